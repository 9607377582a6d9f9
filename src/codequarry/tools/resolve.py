"""One ``[tools.NAME]`` section resolved into its tool plan and its tasks: settings (with its
preset's), executables, schema, limits, targets, placeholders, inputs and cache keys."""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import psutil
import pyarrow as pa

from codequarry.errors import QuarryError, UsageError, did_you_mean
from codequarry.plan import MAX_WORKER_MEMORY, parse_size
from codequarry.schema import PROVENANCE_NAMES
from codequarry.tools import identity, presets
from codequarry.tools.planned import Budget, TaskPlan, ToolPlan, default_id
from codequarry.tools.presets import PRESETS, Target
from codequarry.tools.recipe import ToolBase, fail
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
#: placeholders whose value is a corpus file's name relative to cwd (``{file}`` and ``{dir}`` are
#: absolute): a file named ``-rf`` or ``--output=x`` would reach the tool as an option
CORPUS_NAMES = frozenset({"target", "stem", "name"})
TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
GB = 1 << 30


def _environment(python: str | Path) -> str:
    """Which Python environment an interpreter path runs: its venv (a pyvenv.cfg above its bin/), else
    the interpreter itself (symlinks resolved)."""
    p = Path(os.path.abspath(python))
    if (p.parent.parent / "pyvenv.cfg").is_file():
        return str(p.parent.parent)
    return os.path.realpath(p)


def memory_value(value: Any, path: Path, key: str, *, total: int, budget: bool = False) -> int:
    """A number is GB; "80%" a share of the machine (budgets only); "max" the machine; "512MB" a size.
    At most MAX_WORKER_MEMORY (2**60 bytes): TOML's ``inf`` and ``nan``, and ``"1e20GB"``, were
    tracebacks (no integer, or one that overflowed the plan's JSON and the kernel's limits)."""
    got = _memory_value(value, path, key, total=total, budget=budget)
    if got > MAX_WORKER_MEMORY:
        raise fail(path, key, f"{value} is more than any machine holds (at most 1024 PB, 2**60 bytes)")
    return got


def _memory_value(value: Any, path: Path, key: str, *, total: int, budget: bool) -> int:
    if isinstance(value, bool):
        raise fail(path, key, 'give memory as GB (a number), a size such as "512MB", or "80%"')
    if isinstance(value, int | float):
        if not value > 0:  # NaN too
            raise fail(path, key, f"must be positive, got {value}")
        return int(min(value, MAX_WORKER_MEMORY) * GB)
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


class Resolver:
    """Resolves one [tools.NAME] section into its ToolPlan and tasks."""

    def __init__(
        self,
        path: Path,
        base: Path,
        name: str,
        tool: ToolBase,
        budget: Budget,
        strict: bool,
        notes: list[str],
    ) -> None:
        self.path, self.base, self.name, self.tool, self.budget = path, base, name, tool, budget
        self.strict, self.notes = strict, notes
        self.key = f"tools.{name}"
        self._exe_cache: dict[str, tuple[Path, dict[str, Any]]] = {}

    def value(self, key: str) -> Any:
        """A key of the tool's section, for its preset."""
        return getattr(self.tool, key)

    def err(self, sub: str, message: str) -> QuarryError:
        return fail(self.path, f"{self.key}.{sub}" if sub else self.key, message)

    def resolve(self) -> tuple[ToolPlan, Iterator[TaskPlan]]:
        """The tool's plan, and its tasks one at a time (the plan packs them as they come)."""
        t = self.tool
        how = self._preset()
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
        settings = how.settings(settings, self)
        executables = self._executables()
        command = self._command(settings["command"], executables)
        protocol: Literal["jsonl", "exit"] = settings["protocol"] or (
            "jsonl" if (t.schema_ or settings["schema_command"]) else "exit"
        )
        output, record_schema = self._output(protocol, settings, executables)
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
            preset=t.preset,
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
        targets = how.targets(self)
        inputs = self._inputs()
        labels: list[str | None] = list(executables) or [None]
        tasks = (
            self._task(plan, target, label, executables, cores, memory, timeout, inputs)
            for target in targets
            for label in labels
        )
        return plan, tasks

    # -- pieces -------------------------------------------------------------------------------------
    def _preset(self) -> presets.Preset:
        """The tool's preset (the generic behaviour without one); keys of another preset are refused."""
        t = self.tool
        preset = t.preset
        if preset is not None and preset not in PRESETS:
            raise self.err(
                "preset",
                f"unknown preset '{preset}'.{did_you_mean(preset, PRESETS)} Presets: {', '.join(PRESETS)}",
            )
        for key, owner in presets.option_owners().items():
            if getattr(t, key) is not None and preset != owner:
                raise self.err(key, f'only for preset "{owner}"')
        return presets.get(preset)

    def _command(self, command: list[str] | None, executables: dict[str, Path]) -> list[str]:
        """The command template, its placeholders checked."""
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
        return command

    def _output(
        self, protocol: str, settings: dict[str, Any], executables: dict[str, Path]
    ) -> tuple[str | None, str | None]:
        """The table of a JSON-lines tool and its declared schema (as JSON; None when inferred)."""
        t = self.tool
        if protocol != "jsonl":
            if settings["output"] is not None or t.schema_ is not None:
                raise self.err(
                    "output" if settings["output"] is not None else "schema",
                    'only for protocol "jsonl" (records on stdout become rows)',
                )
            return None, None
        if len(executables) > 1:
            raise self.err(
                "executables", "a JSON-lines tool runs one executable; make one tool per executable"
            )
        output: str = settings["output"] or self.name
        if not TABLE_NAME.match(output):
            raise self.err("output", f"'{output}' is not a table name (letters, digits and '_')")
        if output != output.lower():  # SQL folds an unquoted name: `FROM Files` read the table `files`
            raise self.err(
                "output",
                f"table '{output}' has capitals: SQL reads an unquoted {output} as '{output.lower()}', "
                f"so it could not be queried; name it in lowercase"
                + ("" if settings["output"] else " (it defaults to the tool's name: set output)"),
            )
        if t.schema_ == "infer":
            if t.extra != "ignore":
                raise self.err("extra", 'with schema = "infer" every field of the output is a column')
            return output, None
        declared = self._schema(settings["schema_command"])
        if t.extra == "json" and any(f.name == EXTRA_COLUMN for f in declared):
            raise self.err(
                "extra",
                f"with extra = \"json\" the column '{EXTRA_COLUMN}' holds the "
                "undeclared fields: rename the declared field",
            )
        return output, fields_to_json(declared)

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
        if not timeout > 0:  # NaN too: a task compared with it never timed out
            raise self.err("resources.timeout", "must be a positive number of seconds")
        return cores, memory, timeout

    def glob(self, key: str, patterns: list[str]) -> list[Path]:
        """The files the globs match (relative to cwd), sorted; a glob matching none is an error."""
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

    def rel(self, p: Path) -> str:
        """A path relative to cwd, or absolute when outside it."""
        try:
            return p.resolve().relative_to(self.cwd).as_posix()
        except ValueError:
            return str(p.resolve())

    def _inputs(self) -> list[tuple[str, str]]:
        return [(str(p), identity.file_sha256(p)) for p in self.glob("inputs", self.tool.inputs)]

    def _task(
        self,
        plan: ToolPlan,
        got: Target,
        label: str | None,
        executables: dict[str, Path],
        cores: int,
        memory: int,
        timeout: float,
        inputs: list[tuple[str, str]],
    ) -> TaskPlan:
        """One target's task: its command line with the placeholders filled, the executable found, the
        files it reads hashed, and the cache key over all of that and the way its output is read."""
        target, file, lemma, group = got.target, got.file, got.lemma, got.group
        values = self._values(got, label, executables, cores, memory, timeout)
        argv = self._argv(plan, target, values, CORPUS_NAMES if file is not None else frozenset())
        exe = self._exe(argv[0], "command[0]" if label is None else f"executables.{label}")
        self._note_python(argv[0], exe[0])
        argv[0] = str(exe[0])
        sha = identity.file_sha256(file) if file is not None else None
        all_inputs = self._task_inputs(argv, got, sha, inputs)
        task_id = default_id(self.name, target, lemma, label)
        parts = {
            "task": task_id,
            "argv": argv,
            "cwd": str(self.cwd),
            "env": self.tool.env,
            "exe": exe[1],
            "inputs": all_inputs,
            "limits": {"cores": cores, "memory": memory, "timeout": timeout},
            "read": self._read_settings(plan),
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

    def _values(
        self,
        got: Target,
        label: str | None,
        executables: dict[str, Path],
        cores: int,
        memory: int,
        timeout: float,
    ) -> dict[str, str]:
        """The value of each placeholder a command may name, for this target (file ones only for a file)."""
        file = got.file
        values: dict[str, str] = {
            "target": got.target,
            "tool": self.name,
            "cores": str(cores),
            "memory_mb": str(memory >> 20),
            "memory_gb": f"{memory / GB:g}",
            "timeout": f"{timeout:g}",
            "python": sys.executable,  # the interpreter running quarry, venv or not (PATH may name another)
        }
        if file is not None:
            values.update(file=str(file), stem=file.stem, name=file.name, dir=str(file.parent))
        if got.lemma is not None:
            values["lemma"] = got.lemma
        if label is not None:
            values["executable"] = str(executables[label])
        return values

    def _argv(
        self, plan: ToolPlan, target: str, values: dict[str, str], corpus: frozenset[str] = frozenset()
    ) -> list[str]:
        """The command with its placeholders filled; one with no value here is a config error naming it.

        An argument that a placeholder of ``corpus`` (a file target's name) begins, and that the filled
        value makes start with ``-``, is passed as ``./-...``: the same relative path, which no tool
        reads as an option (``-rf.py`` as ``{name}`` or ``{target}`` would be one)."""
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

            filled = _PLACEHOLDER.sub(sub, arg)
            first = _PLACEHOLDER.match(arg)
            if i > 0 and first and first.group(1) in corpus and filled.startswith("-"):
                filled = "./" + filled
            argv.append(filled)
        return argv

    def _task_inputs(
        self, argv: list[str], got: Target, sha: str | None, inputs: list[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        """Every file the task reads with its sha256, sorted: files its argv names, the target's includes,
        the target file itself and the tool's declared inputs."""
        named = [*identity.argv_files(argv, self.cwd), *got.includes]
        files = {str(p.resolve()): identity.file_sha256(p) for p in named}
        if got.file is not None:
            files[str(got.file.resolve())] = sha  # type: ignore[assignment]
        return sorted({**files, **dict(inputs)}.items())

    def _read_settings(self, plan: ToolPlan) -> dict[str, Any]:
        """How the task's output is read: part of its cache key, so a change re-runs it."""
        return {
            "protocol": plan.protocol,
            "output": plan.output,
            "schema": plan.record_schema,
            "ok": plan.ok_exit_codes,
            "ok_pattern": plan.ok_pattern,
            "fail_pattern": plan.fail_pattern,
            "strict": self.strict and plan.protocol == "jsonl",
            "preset": plan.preset,
            "rlimit": plan.limit_address_space,
            "extra": plan.extra,
            "infer": plan.infer,
        }

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
