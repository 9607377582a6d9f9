"""The frozen values a recipe resolves into: the budget, each tool's plan, each task's plan, and
the whole plan ``quarry check`` prints and ``quarry run`` executes (made by :mod:`.plan`)."""

from __future__ import annotations

import json
import pickle
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal, overload

import orjson
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, PrivateAttr

from codequarry.plan import ExtractPlan, Plan


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Budget(_Frozen):
    cores: int
    memory: int  # bytes
    default_timeout: float
    grace: float
    sample_interval: float
    default_cores: int
    default_memory: int  # bytes
    cgroup: bool = True  # use a cgroup per task when available (False: the sampling fallback)


class ToolPlan(_Frozen):
    name: str
    preset: str | None
    protocol: Literal["jsonl", "exit"]
    output: str | None  # the table of a JSON-lines tool
    record_schema: str | None
    command: tuple[str, ...]  # the template
    cwd: str
    executables: dict[str, str]  # label -> resolved path (empty: the command names its executable)
    ok_exit_codes: tuple[int, ...]
    ok_pattern: str | None
    fail_pattern: str | None
    limit_address_space: bool
    extra: str = "ignore"  # undeclared fields of a record: ignore, json (the `extra` column), forbid
    infer: bool = False  # schema = "infer": the table's schema comes from the output (tools/infer.py)

    @property
    def declared_fields(self) -> list[pa.Field]:
        """The fields the recipe declares (with how to read each: a dotted path)."""
        if self.record_schema is None:
            return []
        from codequarry.tools.schema import field_from_json

        return [field_from_json(f) for f in json.loads(self.record_schema)["fields"]]

    @property
    def fields(self) -> list[pa.Field]:
        """The columns of the tool's table (after repo, path, sha256)."""
        from codequarry.tools.schema import table_fields

        return table_fields(self.declared_fields, self.extra)


class TaskPlan(_Frozen):
    id: str
    tool: str
    group: str  # the rows' `path`: the target (a preset may group several, e.g. a theory's lemmas)
    target: str
    file: str | None
    sha256: str | None
    lemma: str | None = None
    executable: str | None = None  # the label, when the tool has several executables
    executable_path: str
    argv: tuple[str, ...]
    cwd: str
    env: dict[str, str]
    cores: int
    memory: int  # bytes
    timeout: float
    inputs: tuple[tuple[str, str], ...]  # (path, sha256)
    key: str
    _row: int = PrivateAttr(default=-1)  # its position in the plan's TaskTable (-1: made elsewhere)

    @property
    def row(self) -> int:
        # the private attributes' dict, read directly: ``self._row`` goes through pydantic's
        # ``__getattr__`` (~5 us, read several times a task)
        private = self.__pydantic_private__
        return int(private["_row"]) if private else self._row


_SHARED = ("tool", "executable", "executable_path", "cwd", "env", "cores", "memory", "timeout")
_HEX = frozenset("0123456789abcdef")


def default_id(tool: str, target: str, lemma: str | None, executable: str | None) -> str:
    """The id the resolver gives a task: ``tool:target[:lemma][@executable]``."""
    return f"{tool}:{target}" + (f":{lemma}" if lemma else "") + (f"@{executable}" if executable else "")


def _key_bytes(key: str) -> bytes | None:
    """A cache key of 64 lowercase hex digits as its 32 bytes (None for any other key: kept as text)."""
    if len(key) == 64 and _HEX.issuperset(key):
        return bytes.fromhex(key)
    return None


class TaskTable(Sequence[TaskPlan]):
    """A plan's tasks held compactly: 10^5 tasks as ~2 kB pydantic objects each would cost the parent
    ~400 MB, so each task is one JSON record in a shared buffer (~50 bytes for a trivial task), what
    tasks of a tool share (tool, cwd, env, executable, limits) and a run of equal ``inputs`` stored
    once. What a record can be rebuilt from is left out of it: the id when it is the one the resolver
    makes from tool, target, lemma and executable, ``argv[0]`` when it is the executable's path, and
    the cache key (64 hex digits), kept as its 32 bytes in a buffer of its own. A :class:`TaskPlan`
    is made when a task is read (``table[i]``, iteration) and knows its position (``task.row``);
    nothing holds it longer than its use."""

    def __init__(self, tasks: Iterable[TaskPlan] = ()) -> None:
        self._buf = bytearray()
        self._keys = bytearray()  # 32 bytes a task: its cache key, when it is 64 hex digits
        self._ends = array("Q")
        self._refs = array("I")  # each task's entry in _shared: its request read without decoding it
        self._shared: list[tuple[Any, ...]] = []
        self._shared_ids: dict[bytes, int] = {}
        self._inputs: list[tuple[tuple[str, str], ...]] = []
        self._last_inputs: tuple[tuple[str, str], ...] | None = None
        self.extend(tasks)

    def append(self, task: TaskPlan) -> None:
        shared = tuple(getattr(task, k) for k in _SHARED)
        code = orjson.dumps(shared, option=orjson.OPT_SORT_KEYS)
        ref = self._shared_ids.get(code)
        if ref is None:
            ref = self._shared_ids[code] = len(self._shared)
            self._shared.append(shared)
        if task.inputs != self._last_inputs:  # consecutive tasks (a theory's lemmas) share their inputs
            self._last_inputs = task.inputs
            self._inputs.append(task.inputs)
        raw_key = _key_bytes(task.key)
        self._keys += raw_key or bytes(32)
        argv: list[str | None] = list(task.argv)
        if argv and argv[0] == task.executable_path:
            argv[0] = None
        own = [
            ref,
            None if task.id == default_id(task.tool, task.target, task.lemma, task.executable) else task.id,
            None if task.group == task.target else task.group,
            task.target,
            task.file,
            task.sha256,
            task.lemma,
            argv,
            len(self._inputs) - 1,
            None if raw_key else task.key,
        ]
        self._buf += orjson.dumps(own)
        self._ends.append(len(self._buf))
        self._refs.append(ref)

    def extend(self, tasks: Iterable[TaskPlan]) -> None:
        for task in tasks:
            self.append(task)

    def __len__(self) -> int:
        return len(self._ends)

    @overload
    def __getitem__(self, i: int) -> TaskPlan: ...
    @overload
    def __getitem__(self, i: slice) -> list[TaskPlan]: ...
    def __getitem__(self, i: int | slice) -> TaskPlan | list[TaskPlan]:
        if isinstance(i, slice):
            return [self._task(j) for j in range(*i.indices(len(self)))]
        n = len(self._ends)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("task index out of range")
        return self._task(i)

    def __iter__(self) -> Iterator[TaskPlan]:
        for i in range(len(self._ends)):
            yield self._task(i)

    def request(self, i: int) -> tuple[int, int]:
        """Task ``i``'s cores and memory, without making its TaskPlan."""
        shared = self._shared[self._refs[i]]
        return shared[5], shared[6]

    def task_id(self, i: int) -> str:
        record = self._record(i)
        if record[1] is not None:
            return str(record[1])
        return default_id(self._shared[record[0]][0], record[3], record[6], self._shared[record[0]][1])

    def group_key(self, i: int) -> tuple[str, str]:
        """Task ``i``'s (tool, group): the rows it writes, without making its TaskPlan."""
        record = self._record(i)
        return self._shared[record[0]][0], record[3] if record[2] is None else record[2]

    def _record(self, i: int) -> list[Any]:
        start = self._ends[i - 1] if i else 0
        return list(orjson.loads(memoryview(self._buf)[start : self._ends[i]]))

    def _task(self, i: int) -> TaskPlan:
        ref, task_id, group, target, file, sha, lemma, argv, inputs, key = self._record(i)
        tool, executable, exe_path, cwd, env, cores, memory, timeout = self._shared[ref]
        if argv and argv[0] is None:
            argv[0] = exe_path
        return _made(
            dict(
                id=default_id(tool, target, lemma, executable) if task_id is None else task_id,
                tool=tool,
                group=target if group is None else group,
                target=target,
                file=file,
                sha256=sha,
                lemma=lemma,
                executable=executable,
                executable_path=exe_path,
                argv=tuple(argv),
                cwd=cwd,
                env=dict(env),
                cores=cores,
                memory=memory,
                timeout=timeout,
                inputs=self._inputs[inputs],
                key=self._keys[32 * i : 32 * i + 32].hex() if key is None else key,
            ),
            i,
        )


_TASK_FIELDS = frozenset(TaskPlan.model_fields)


def _made(values: dict[str, Any], row: int) -> TaskPlan:
    """``TaskPlan.model_construct(**values)`` with its row, as model_construct leaves the instance
    (its fields, the set of them, no extra, the private ``_row``), without its walk over the fields
    and their aliases: 26 us a task there, and a run reads each task several times (scheduler,
    cache, report, run record). ``values`` must name every field."""
    assert values.keys() == _TASK_FIELDS
    task = TaskPlan.__new__(TaskPlan)
    object.__setattr__(task, "__dict__", values)
    object.__setattr__(task, "__pydantic_fields_set__", set(_TASK_FIELDS))
    object.__setattr__(task, "__pydantic_extra__", None)
    object.__setattr__(task, "__pydantic_private__", {"_row": row})
    return task


class TaskRows(Sequence[TaskPlan]):
    """Some tasks of a :class:`TaskTable`, in an order (what a run executes): their rows only, 4 bytes
    a task; a TaskPlan is made when one is read."""

    def __init__(self, table: TaskTable, rows: Iterable[int] = ()) -> None:
        self.table = table
        self.rows = rows if isinstance(rows, array) else array("I", rows)

    def append(self, row: int) -> None:
        self.rows.append(row)

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, i: int) -> TaskPlan: ...
    @overload
    def __getitem__(self, i: slice) -> list[TaskPlan]: ...
    def __getitem__(self, i: int | slice) -> TaskPlan | list[TaskPlan]:
        if isinstance(i, slice):
            return [self.table[r] for r in self.rows[i]]
        return self.table[self.rows[i]]

    def __iter__(self) -> Iterator[TaskPlan]:
        for r in self.rows:
            yield self.table[r]

    def request(self, i: int) -> tuple[int, int]:
        return self.table.request(self.rows[i])

    def reordered(self, rows: Iterable[int]) -> TaskRows:
        return TaskRows(self.table, rows)


class ToolsPlan(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    recipe: str
    recipe_sha256: str
    # the recipe as read, pickled: 10^5 literal targets as str objects cost ~6 MB for the whole run,
    # pickled ~1 MB; only the report reads it (``recipe_data``)
    recipe_pickle: bytes
    store: str
    strict: bool
    budget: Budget
    tools: tuple[ToolPlan, ...]
    tasks: TaskTable
    extract: ExtractPlan | None = None
    notes: tuple[str, ...] = ()
    _extract_plan: Plan | None = PrivateAttr(default=None)  # `extract` resolved; never serialised

    @property
    def recipe_data(self) -> dict[str, Any]:
        """The recipe's content as read (TOML or JSON), for the report."""
        return dict(pickle.loads(self.recipe_pickle))

    @property
    def extract_plan(self) -> Plan | None:
        """The [extract] section as ``make_tools_plan`` resolved it (catalog and graph, so the run loads
        neither again); None when there is none, or the plan was read back from JSON."""
        return self._extract_plan

    def keeping(self, extract_plan: Plan | None) -> ToolsPlan:
        """This plan holding ``extract_plan``, the resolved form of ``extract`` (set once, when made)."""
        self._extract_plan = extract_plan
        return self

    def tool(self, name: str) -> ToolPlan:
        return next(t for t in self.tools if t.name == name)
