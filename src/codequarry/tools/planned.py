"""The frozen values a recipe resolves into: the budget, each tool's plan, each task's plan, and
the whole plan ``quarry check`` prints and ``quarry run`` executes (made by :mod:`.plan`)."""

from __future__ import annotations

import json
from typing import Any, Literal

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


class ToolsPlan(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    recipe: str
    recipe_sha256: str
    recipe_data: dict[str, Any]
    store: str
    strict: bool
    budget: Budget
    tools: tuple[ToolPlan, ...]
    tasks: tuple[TaskPlan, ...]
    extract: ExtractPlan | None = None
    notes: tuple[str, ...] = ()
    _extract_plan: Plan | None = PrivateAttr(default=None)  # `extract` resolved; never serialised

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
