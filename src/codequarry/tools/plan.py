"""A recipe resolved, once, into a frozen plan: every budget, path, target, argv and limit expanded.

Nothing runs from the recipe itself: ``quarry check`` prints this plan and ``quarry run`` executes
exactly it. Everything that can be wrong is found here, before the first task starts, and named by
file and key: unknown keys, budgets that cannot be read, a task needing more cores or memory than
the global budget, an executable that is not there, a glob that matched nothing, a placeholder
the tool cannot fill.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import subprocess
import sys
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

import psutil
import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from codequarry.errors import QuarryError, UsageError, did_you_mean
from codequarry.plan import ExtractPlan, make_plan, parse_size
from codequarry.schema import PROVENANCE_NAMES
from codequarry.tools import identity
from codequarry.tools.presets import ONLY, PRESETS, lean, tamarin
from codequarry.tools.recipe import RecipeIn, ToolIn, fail, read_recipe
from codequarry.tools.schema import (
    EXTRA_COLUMN,
    SchemaProblem,
    fields_from_json,
    fields_from_table,
    fields_to_json,
)

PLACEHOLDERS = (
    "target",
    "file",
    "stem",
    "name",
    "dir",
    "lemma",
    "executable",
    "cores",
    "memory_mb",
    "memory_gb",
    "timeout",
    "tool",
    "python",
)
_PLACEHOLDER = re.compile(r"\{([A-Za-z_]+)\}")
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED_TABLES = ("errors", "files", "tool_runs", "tamarin_results")
DEFAULT_TASK_MEMORY = 2 << 30
GB = 1 << 30


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
        from codequarry.tools.schema import _lean_field

        return [_lean_field(f) for f in json.loads(self.record_schema)["fields"]]

    @property
    def fields(self) -> list[pa.Field]:
        """The columns of the tool's table (after repo, path, sha256)."""
        from codequarry.tools.schema import table_fields

        return table_fields(self.declared_fields, self.extra)


class TaskPlan(_Frozen):
    id: str
    tool: str
    group: str  # the rows' `path`: the target, or the theory of a Tamarin lemma
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

    def tool(self, name: str) -> ToolPlan:
        return next(t for t in self.tools if t.name == name)


def make_tools_plan(
    recipe: str | Path, *, store: str | Path | None = None, strict: bool = False
) -> ToolsPlan:
    """Read and resolve a recipe file. Raises RecipeError (a UsageError) naming the file and key."""
    path = Path(recipe).expanduser().resolve()
    model, data = read_recipe(path)
    base = path.parent
    if not model.tools and model.extract is None:
        raise fail(path, "", "nothing to run: add a [tools.NAME] section or an [extract] section")
    budget = _budget(model, path)
    extract = _extract(model, path, base, store)
    store_path = (
        Path(store).expanduser().resolve() if store else (extract.store if extract else base / ".quarry")
    )
    notes: list[str] = []
    tools: list[ToolPlan] = []
    tasks: list[TaskPlan] = []
    outputs: dict[str, tuple[str, str | None]] = {}
    reserved = _reserved(model)
    for name, tool in model.tools.items():
        if not _TABLE.match(name):
            raise fail(
                path, f"tools.{name}", "a tool name is letters, digits and '_' (it becomes the rows' repo)"
            )
        plan, got = _Resolver(path, base, name, tool, budget, strict, notes).resolve()
        if plan.output is not None:
            if plan.output in reserved:
                raise fail(
                    path,
                    f"tools.{name}.output",
                    f"'{plan.output}' is a table codequarry writes itself; choose another name",
                )
            other = outputs.get(plan.output)
            if other is not None and (plan.infer or other[1] is None):
                raise fail(
                    path,
                    f"tools.{name}.output",
                    f"table '{plan.output}' is also written by tool "
                    f"'{other[0]}'; a tool with schema = \"infer\" needs a table of its own",
                )
            if other is not None and other[1] != plan.record_schema:
                raise fail(
                    path,
                    f"tools.{name}.output",
                    f"table '{plan.output}' is also written by tool '{other[0]}' with another schema",
                )
            outputs[plan.output] = (name, plan.record_schema)
        tools.append(plan)
        tasks.extend(got)
    return ToolsPlan(
        recipe=str(path),
        recipe_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        recipe_data=data,
        store=str(store_path),
        strict=strict,
        budget=budget,
        tools=tuple(tools),
        tasks=tuple(tasks),
        extract=extract,
        notes=tuple(notes),
    )


def _reserved(model: RecipeIn) -> set[str]:
    names = set(RESERVED_TABLES)
    try:
        from codequarry.registry import load_catalog

        catalog = load_catalog(model.extract.plugins if model.extract else ())
        names |= {
            o if isinstance(o, str) else o.name for ex in catalog.extractors.values() for o in ex.outputs
        }
        names |= {
            o if isinstance(o, str) else o.name for op in catalog.operations.values() for o in op.outputs
        }
    except QuarryError:
        pass  # a broken plugin is reported by the extract plan
    return names


def _budget(model: RecipeIn, path: Path) -> Budget:
    r = model.resources
    machine_cores = _machine_cores()
    total = psutil.virtual_memory().total
    if r.max_cores == "max":
        cores = machine_cores
    elif r.max_cores < 1:
        raise fail(path, "resources.max_cores", f'must be at least 1 or "max", got {r.max_cores}')
    else:
        cores = r.max_cores
    memory = memory_value(r.max_memory, path, "resources.max_memory", total=total, budget=True)
    if r.default_timeout <= 0:
        raise fail(path, "resources.default_timeout", "must be a positive number of seconds")
    if r.grace < 0 or r.sample_interval <= 0:
        key = "resources.grace" if r.grace < 0 else "resources.sample_interval"
        raise fail(path, key, "must be a positive number of seconds")
    if r.default_cores < 1:
        raise fail(path, "resources.default_cores", f"must be at least 1, got {r.default_cores}")
    default_memory = (
        memory_value(r.default_memory, path, "resources.default_memory", total=total)
        if r.default_memory is not None
        else min(DEFAULT_TASK_MEMORY, memory)
    )
    return Budget(
        cores=cores,
        memory=memory,
        default_timeout=float(r.default_timeout),
        grace=float(r.grace),
        sample_interval=float(r.sample_interval),
        default_cores=r.default_cores,
        default_memory=default_memory,
        cgroup=r.cgroup,
    )


def _environment(python: str | Path) -> str:
    """Which Python environment an interpreter path runs: its venv (a pyvenv.cfg above its bin/), else
    the interpreter itself (symlinks resolved)."""
    p = Path(os.path.abspath(python))
    if (p.parent.parent / "pyvenv.cfg").is_file():
        return str(p.parent.parent)
    return os.path.realpath(p)


def _machine_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def memory_value(value: Any, path: Path, key: str, *, total: int, budget: bool = False) -> int:
    """A number is GB; "80%" a share of the machine (budgets only); "max" the machine; "512MB" a size."""
    if isinstance(value, bool):
        raise fail(path, key, 'give memory as GB (a number), a size such as "512MB", or "80%"')
    if isinstance(value, int | float):
        if value <= 0:
            raise fail(path, key, f"must be positive, got {value}")
        return int(value * GB)
    text = str(value).strip()
    if budget and text == "max":
        return total
    if text.endswith("%"):
        try:
            share = float(text[:-1])
        except ValueError:
            raise fail(path, key, f"cannot read '{text}': use a share such as \"80%\"") from None
        if not 0 < share <= 100:
            raise fail(path, key, f"a share of the machine's memory is between 0% and 100%, got {text}")
        return int(total * share / 100)
    try:
        return parse_size(text)
    except UsageError:
        hint = ', "max"' if budget else ""
        raise fail(
            path, key, f'cannot read \'{text}\': use GB as a number, a size such as "512MB", "80%"{hint}'
        ) from None


def _extract(model: RecipeIn, path: Path, base: Path, store: str | Path | None) -> ExtractPlan | None:
    ex = model.extract
    if ex is None:
        return None
    if not ex.sources:
        raise fail(path, "extract.sources", "list at least one folder to extract")
    sources = [base / os.path.expanduser(s) for s in ex.sources]
    try:
        return make_plan(
            sources,
            store=store,
            workers=ex.workers,
            exclude=ex.exclude,
            plugins=ex.plugins,
            select=ex.select,
            deselect=ex.skip,
            max_file_size=parse_size(ex.max_file_size),
            file_timeout=float(ex.file_timeout),
            engine=ex.engine,
        ).request  # the request: a recipe's plan is serialised (its report, `quarry run --check`)
    except QuarryError as exc:
        raise fail(path, "extract", str(exc)) from None


class _Resolver:
    """Resolves one [tools.NAME] section into its ToolPlan and tasks."""

    def __init__(
        self, path: Path, base: Path, name: str, tool: ToolIn, budget: Budget, strict: bool, notes: list[str]
    ) -> None:
        self.path, self.base, self.name, self.tool, self.budget = path, base, name, tool, budget
        self.strict, self.notes = strict, notes
        self.key = f"tools.{name}"
        self._exe_cache: dict[str, tuple[Path, dict[str, Any]]] = {}
        self._included: dict[str, list[Path]] = {}

    def err(self, sub: str, message: str) -> QuarryError:
        return fail(self.path, f"{self.key}.{sub}" if sub else self.key, message)

    def resolve(self) -> tuple[ToolPlan, list[TaskPlan]]:
        t = self.tool
        preset = t.preset
        if preset is not None and preset not in PRESETS:
            raise self.err(
                "preset",
                f"unknown preset '{preset}'.{did_you_mean(preset, PRESETS)} Presets: {', '.join(PRESETS)}",
            )
        for key, owner in ONLY.items():
            if getattr(t, key) is not None and preset != owner:
                raise self.err(key, f'only for preset "{owner}"')
        cwd = (self.base / os.path.expanduser(t.cwd)).resolve() if t.cwd else self.base
        if not cwd.is_dir():
            raise self.err("cwd", f"no such folder: {cwd}")
        self.cwd = cwd
        settings: dict[str, Any] = {
            "command": t.command,
            "schema_command": t.schema_command,
            "protocol": t.protocol,
            "output": t.output,
        }
        if preset == "lean":
            settings = self._lean(settings)
        executables = self._executables()
        if preset == "tamarin":
            if settings["command"] is None:
                defines = [f"-D={d}" for d in (t.defines or [])]
                settings["command"] = [*tamarin.DEFAULT_COMMAND, *defines, *(t.extra_args or []), "{file}"]
            if not executables:
                raise self.err("executables", 'the tamarin preset needs executables = { LABEL = "PATH" }')
        command = settings["command"]
        if not command:
            raise self.err("command", 'required: the argv to run, e.g. ["python3", "tool.py", "{file}"]')
        for i, arg in enumerate(command):
            for ph in _PLACEHOLDER.findall(arg):
                if ph not in PLACEHOLDERS:
                    raise self.err(
                        f"command[{i}]",
                        f"unknown placeholder '{{{ph}}}'.{did_you_mean(ph, PLACEHOLDERS)}"
                        f" Placeholders: {', '.join('{' + p + '}' for p in PLACEHOLDERS)}",
                    )
        if executables and not any("{executable}" in a for a in command):
            raise self.err("command", "with 'executables', the command must contain '{executable}'")
        protocol: Literal["jsonl", "exit"] = settings["protocol"] or (
            "jsonl" if (t.schema_ or settings["schema_command"]) else "exit"
        )
        output = record_schema = None
        if protocol == "jsonl":
            if len(executables) > 1:
                raise self.err(
                    "executables", "a JSON-lines tool runs one executable; make one tool per executable"
                )
            output = settings["output"] or self.name
            if not _TABLE.match(output):
                raise self.err("output", f"'{output}' is not a table name (letters, digits and '_')")
            if t.schema_ == "infer":
                if t.extra != "ignore":
                    raise self.err("extra", 'with schema = "infer" every field of the output is a column')
            else:
                declared = self._schema(settings["schema_command"])
                if t.extra == "json" and any(f.name == EXTRA_COLUMN for f in declared):
                    raise self.err(
                        "extra",
                        f"with extra = \"json\" the column '{EXTRA_COLUMN}' holds the "
                        "undeclared fields: rename the declared field",
                    )
                record_schema = fields_to_json(declared)
        elif settings["output"] is not None or t.schema_ is not None:
            raise self.err(
                "output" if settings["output"] is not None else "schema",
                'only for protocol "jsonl" (records on stdout become rows)',
            )
        for key in ("ok_pattern", "fail_pattern"):
            pattern = getattr(t, key)
            if pattern is not None:
                try:
                    re.compile(pattern, re.M)
                except re.error as exc:
                    raise self.err(key, f"not a valid regular expression: {exc}") from None
        cores, memory, timeout = self._limits()
        plan = ToolPlan(
            name=self.name,
            preset=preset,
            protocol=protocol,
            output=output,
            record_schema=record_schema,
            command=tuple(command),
            cwd=str(cwd),
            executables={k: str(v) for k, v in executables.items()},
            ok_exit_codes=tuple(t.ok_exit_codes),
            ok_pattern=t.ok_pattern,
            fail_pattern=t.fail_pattern,
            limit_address_space=t.limit_address_space,
            extra=t.extra,
            infer=t.schema_ == "infer",
        )
        targets = self._tamarin_targets() if preset == "tamarin" else self._targets()
        inputs = self._inputs()
        tasks = []
        labels: list[str | None] = list(executables) or [None]
        for target, file, lemma, group in targets:
            for label in labels:
                tasks.append(
                    self._task(
                        plan, target, file, lemma, group, label, executables, cores, memory, timeout, inputs
                    )
                )
        return plan, tasks

    # -- pieces -------------------------------------------------------------------------------------
    def _lean(self, settings: dict[str, Any]) -> dict[str, Any]:
        t = self.tool
        if not t.extractor:
            raise self.err("extractor", 'required by preset "lean": a lean_scout command such as "types"')
        if t.imports and t.read:
            raise self.err("read", "give 'imports' (modules) or 'read' (files), not both")
        if not t.imports and not t.read:
            raise self.err("imports", "preset \"lean\" needs 'imports' (modules) or 'read' (file globs)")
        got = lean.defaults(t.extractor, imports=bool(t.imports))
        return {k: settings[k] if settings[k] is not None else v for k, v in got.items()}

    def _executables(self) -> dict[str, Path]:
        out: dict[str, Path] = {}
        for label, exe in (self.tool.executables or {}).items():
            found = identity.find_executable(exe, self.base, self._path_env())
            if found is None:
                raise self.err(
                    f"executables.{label}",
                    f"executable '{exe}' not found" + ("" if "/" in exe else " on PATH"),
                )
            out[label] = found
        return out

    def _path_env(self) -> str | None:
        return self.tool.env.get("PATH", os.environ.get("PATH"))

    def _schema(self, schema_command: list[str] | None) -> list[pa.Field]:
        t = self.tool
        if t.schema_ is not None and schema_command is not None and t.preset is None:
            raise self.err("schema", "give 'schema' or 'schema_command', not both")
        try:
            if isinstance(t.schema_, dict):
                fields = fields_from_table(t.schema_)
            elif schema_command:
                fields = fields_from_json(self._run_schema_command(schema_command))
            else:
                raise self.err(
                    "schema", "protocol \"jsonl\" needs 'schema = { column = \"type\" }' or 'schema_command'"
                )
        except SchemaProblem as exc:
            raise self.err("schema" if t.schema_ is not None else "schema_command", str(exc)) from None
        clash = [f.name for f in fields if f.name in PROVENANCE_NAMES]
        if clash:
            raise self.err(
                "schema",
                f"{clash} are columns codequarry adds to every row (the tool, the target, "
                "its hash); rename them",
            )
        return fields

    def _run_schema_command(self, argv: list[str]) -> str:
        exe = identity.find_executable(argv[0], self.cwd, self._path_env())
        if exe is None:
            raise self.err("schema_command[0]", f"executable '{argv[0]}' not found")
        try:
            done = subprocess.run(
                [str(exe), *argv[1:]],
                cwd=self.cwd,
                env={**os.environ, **self.tool.env},
                capture_output=True,
                text=True,
                timeout=300,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise self.err("schema_command", f"could not run: {exc}") from None
        if done.returncode != 0:
            tail = " | ".join(done.stderr.strip().splitlines()[-3:])
            raise self.err("schema_command", f"exited with {done.returncode}: {tail}")
        return done.stdout

    def _limits(self) -> tuple[int, int, float]:
        r, b = self.tool.resources, self.budget
        cores = r.cores if r.cores is not None else b.default_cores
        key = "resources.cores" if r.cores is not None else "resources.default_cores"
        if cores < 1:
            raise self.err(key, f"must be at least 1, got {cores}")
        if cores > b.cores:
            raise self.err(
                key,
                f"a task needs {cores} cores but resources.max_cores allows "
                f"{b.cores}; lower one or raise the other",
            )
        total = psutil.virtual_memory().total
        if r.memory is not None:
            memory = memory_value(r.memory, self.path, f"{self.key}.resources.memory", total=total)
        else:
            memory = b.default_memory
        if memory > b.memory:
            raise self.err(
                "resources.memory",
                f"a task needs {memory / GB:.2f} GB but resources.max_memory "
                f"allows {b.memory / GB:.2f} GB; lower one or raise the other",
            )
        timeout = float(r.timeout) if r.timeout is not None else b.default_timeout
        if timeout <= 0:
            raise self.err("resources.timeout", "must be a positive number of seconds")
        return cores, memory, timeout

    def _glob(self, key: str, patterns: list[str]) -> list[Path]:
        found: dict[str, Path] = {}
        for i, pattern in enumerate(patterns):
            expanded = os.path.expanduser(pattern)
            hits = glob.glob(expanded, root_dir=None if os.path.isabs(expanded) else self.cwd, recursive=True)
            files = [
                p for p in ((Path(h) if os.path.isabs(h) else self.cwd / h) for h in hits) if p.is_file()
            ]
            if not files:
                raise self.err(f"{key}[{i}]", f"'{pattern}' matched no file (relative to {self.cwd})")
            for p in files:
                found.setdefault(str(p), p)
        return [found[k] for k in sorted(found)]

    def _rel(self, p: Path) -> str:
        try:
            return p.resolve().relative_to(self.cwd).as_posix()
        except ValueError:
            return str(p.resolve())

    def _targets(self) -> list[tuple[str, Path | None, str | None, str]]:
        t = self.tool
        out: dict[str, tuple[str, Path | None, str | None, str]] = {}
        literal = t.imports if t.preset == "lean" else t.targets
        files_key, patterns = ("read", t.read) if t.preset == "lean" else ("files", t.files)
        for target in literal or []:
            if not target:
                raise self.err("targets", "a target is a non-empty string")
            out.setdefault(target, (target, None, None, target))
        for p in self._glob(files_key, patterns or []):
            rel = self._rel(p)
            out.setdefault(rel, (rel, p, None, rel))
        if not out:
            which = "imports" if t.preset == "lean" else "targets"
            raise self.err(which, f"no targets: give '{which}' (a list of strings) or '{files_key}' (globs)")
        return list(out.values())

    def _tamarin_targets(self) -> list[tuple[str, Path | None, str | None, str]]:
        t = self.tool
        if not t.theories:
            raise self.err("theories", 'required by preset "tamarin": globs of .spthy files')
        ts_parser = tamarin.parser()
        patterns = t.lemmas or ["*"]
        out: list[tuple[str, Path | None, str | None, str]] = []
        for p in self._glob("theories", t.theories):
            theory = tamarin.discover(p, set(t.defines or []), _parser=ts_parser)
            self.notes.extend(theory.notes)
            rel = self._rel(p)
            self._included[rel] = theory.files[1:]  # included files are inputs of every task of the theory
            for lemma in theory.lemmas:
                if any(fnmatchcase(lemma.name, pat) for pat in patterns):
                    out.append((rel, p, lemma.name, rel))
        if not out:
            raise self.err(
                "lemmas", f"no lemma of {t.theories} matches {patterns} (with defines {t.defines or []})"
            )
        return out

    def _inputs(self) -> list[tuple[str, str]]:
        return [(str(p), identity.file_sha256(p)) for p in self._glob("inputs", self.tool.inputs)]

    def _task(
        self,
        plan: ToolPlan,
        target: str,
        file: Path | None,
        lemma: str | None,
        group: str,
        label: str | None,
        executables: dict[str, Path],
        cores: int,
        memory: int,
        timeout: float,
        inputs: list[tuple[str, str]],
    ) -> TaskPlan:
        values: dict[str, str] = {
            "target": target,
            "tool": self.name,
            "cores": str(cores),
            "memory_mb": str(memory >> 20),
            "memory_gb": f"{memory / GB:g}",
            "timeout": f"{timeout:g}",
            "python": sys.executable,  # the interpreter running quarry, venv or not (PATH may name another)
        }
        if file is not None:
            values.update(file=str(file), stem=file.stem, name=file.name, dir=str(file.parent))
        if lemma is not None:
            values["lemma"] = lemma
        if label is not None:
            values["executable"] = str(executables[label])
        argv = []
        for i, arg in enumerate(plan.command):

            def sub(m: re.Match[str], i: int = i) -> str:
                if m.group(1) not in values:
                    raise self.err(
                        f"command[{i}]",
                        f"'{{{m.group(1)}}}' has no value for target '{target}' "
                        + (
                            "(it needs file targets: 'files = [...]')"
                            if m.group(1) in ("file", "stem", "name", "dir")
                            else ""
                        ),
                    )
                return values[m.group(1)]

            argv.append(_PLACEHOLDER.sub(sub, arg))
        exe = self._exe(argv[0], "command[0]" if label is None else f"executables.{label}")
        self._note_python(argv[0], exe[0])
        argv[0] = str(exe[0])
        named = [*identity.argv_files(argv, self.cwd), *self._included.get(group, [])]
        files = {str(p.resolve()): identity.file_sha256(p) for p in named}
        sha = identity.file_sha256(file) if file is not None else None
        if file is not None:
            files[str(file.resolve())] = sha  # type: ignore[assignment]
        all_inputs = sorted({**files, **dict(inputs)}.items())
        task_id = f"{self.name}:{target}" + (f":{lemma}" if lemma else "") + (f"@{label}" if label else "")
        parts = {
            "task": task_id,
            "argv": argv,
            "cwd": str(self.cwd),
            "env": self.tool.env,
            "exe": exe[1],
            "inputs": all_inputs,
            "limits": {"cores": cores, "memory": memory, "timeout": timeout},
            "read": {
                "protocol": plan.protocol,
                "schema": plan.record_schema,
                "ok": plan.ok_exit_codes,
                "ok_pattern": plan.ok_pattern,
                "fail_pattern": plan.fail_pattern,
                "strict": self.strict and plan.protocol == "jsonl",
                "preset": plan.preset,
                "rlimit": plan.limit_address_space,
                "extra": plan.extra,
                "infer": plan.infer,
            },
        }
        return TaskPlan(
            id=task_id,
            tool=self.name,
            group=group,
            target=target,
            file=str(file.resolve()) if file else None,
            sha256=sha,
            lemma=lemma,
            executable=label,
            executable_path=str(exe[0]),
            argv=tuple(argv),
            cwd=str(self.cwd),
            env=dict(self.tool.env),
            cores=cores,
            memory=memory,
            timeout=timeout,
            inputs=tuple(all_inputs),
            key=identity.cache_key(parts),
        )

    def _note_python(self, name: str, found: Path) -> None:
        """A bare `python3` is whatever PATH names, which is not quarry's interpreter when quarry runs
        from a venv that is not activated: say so once per tool, and how to name quarry's own."""
        if not re.fullmatch(r"python(3(\.\d+)?)?", name) or _environment(found) == _environment(
            sys.executable
        ):
            return
        note = (
            f"{self.key}.command[0]: '{name}' resolves to {found} on PATH, not to the interpreter running "
            f'quarry ({sys.executable}); write "{{python}}" to run that one'
        )
        if note not in self.notes:
            self.notes.append(note)

    def _exe(self, name: str, key: str) -> tuple[Path, dict[str, Any]]:
        hit = self._exe_cache.get(name)
        if hit is None:
            found = identity.find_executable(name, self.cwd, self._path_env())
            if found is None:
                raise self.err(key, f"executable '{name}' not found" + ("" if "/" in name else " on PATH"))
            hit = self._exe_cache[name] = (found, identity.executable_identity(found))
        return hit
