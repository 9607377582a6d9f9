"""A recipe file as written: TOML (or JSON) read into strict pydantic models, nothing resolved yet.

Every section refuses unknown keys, so a typo is an error that names the file and the key
(``recipe.toml: tools.lean.comand: unknown key. Did you mean 'command'?``) instead of a setting
silently ignored. Turning these models into a runnable plan (paths, budgets, targets, executables)
is :mod:`codequarry.tools.plan`'s job.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from codequarry.errors import UsageError, did_you_mean


class RecipeError(UsageError):
    """A recipe that cannot run: the message names the file and the key."""


def fail(file: Path | str, key: str, message: str) -> RecipeError:
    """The error for one key of one recipe file, in the one format every recipe error uses."""
    return RecipeError(f"{file}: {key}: {message}" if key else f"{file}: {message}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Number = int | float


class ResourcesIn(_Strict):
    """[resources]: global budgets, and the defaults of every task."""

    max_cores: int | Literal["max"] = "max"
    max_memory: Number | str = "max"  # GB, "max", "80%", or a size such as "512MB"
    default_timeout: Number = 600
    default_cores: int = 1
    default_memory: Number | str | None = None  # default: 2 GB, or the whole budget if smaller
    grace: Number = 5  # seconds between SIGTERM and SIGKILL
    sample_interval: Number = 0.01  # seconds between samples of a task's memory (without a cgroup)
    cgroup: bool = True  # a cgroup per task when the machine offers one; false forces the sampling fallback


class TaskResourcesIn(_Strict):
    """A tool's per-task limits (``resources = { cores = 4, memory = 16, timeout = 3600 }``)."""

    cores: int | None = None
    memory: Number | str | None = None
    timeout: Number | None = None


class ToolBase(_Strict):
    """[tools.NAME]: one external tool, run once per target (and per executable).

    The keys every tool has; each preset adds its own (``ToolIn`` below)."""

    command: list[str] | None = None
    preset: str | None = None
    targets: list[str] | None = None
    files: list[str] | None = None  # globs, relative to cwd; each file is a target
    output: str | None = None
    protocol: Literal["jsonl", "exit"] | None = None
    schema_: dict[str, Any] | Literal["infer"] | None = Field(default=None, alias="schema")
    extra: Literal["ignore", "json", "forbid"] = "ignore"  # fields a record has and the schema does not
    schema_command: list[str] | None = None
    cwd: str | None = None
    env: dict[str, str] = {}
    resources: TaskResourcesIn = TaskResourcesIn()
    executables: dict[str, str] | None = None
    inputs: list[str] = []  # globs of extra files whose hashes belong to the cache key
    ok_exit_codes: list[int] = [0]
    ok_pattern: str | None = None  # a regex the output must match for the task to be ok
    fail_pattern: str | None = None  # a regex that marks the task failed even on exit code 0
    limit_address_space: bool = True  # RLIMIT_AS as a hard stop (turn off for JVMs and the like)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _tool_model() -> type[ToolBase]:
    """ToolBase plus the keys of every preset (a preset's own options model declares them)."""
    from codequarry.tools.presets import BUILTIN

    fields: dict[str, Any] = {}
    for preset in BUILTIN:
        if preset.options is not None:
            for key, info in preset.options.model_fields.items():
                if key in ToolBase.model_fields or key in fields:
                    raise TypeError(f"preset '{preset.name}' declares key '{key}', which another has")
                fields[key] = (info.annotation, info)
    return create_model("ToolIn", __base__=ToolBase, __doc__=ToolBase.__doc__, **fields)


if TYPE_CHECKING:
    ToolIn = ToolBase
else:
    ToolIn = _tool_model()


class ExtractIn(_Strict):
    """[extract]: the same options as ``quarry extract``, run before the tools."""

    sources: list[str]
    select: list[str] = []
    skip: list[str] = []
    exclude: list[str] = []
    plugins: list[str] = []
    workers: int | None = None
    engine: Literal["local", "ray"] = "local"
    file_timeout: Number = 60.0
    max_file_size: str = "10MB"


class RecipeIn(_Strict):
    resources: ResourcesIn = ResourcesIn()
    tools: dict[str, ToolIn] = {}
    extract: ExtractIn | None = None


def read_recipe(path: str | Path) -> tuple[RecipeIn, dict[str, Any]]:
    """Parse a recipe file; returns the model and the raw data (kept verbatim in the report)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise RecipeError(f"no recipe file at '{path}'")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"cannot read recipe '{path}': {exc}") from None
    data = parse_text(text, p)
    try:
        return RecipeIn.model_validate(data), data
    except ValidationError as exc:
        raise _explain(exc, p) from None


def parse_text(text: str, path: Path) -> dict[str, Any]:
    """TOML unless the file is .json (or starts with '{'); syntax errors name the line."""
    if path.suffix.lower() == ".json" or text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RecipeError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise RecipeError(f"{path}: not valid TOML: {exc}") from None
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe is a table of sections ([resources], [tools.NAME], [extract])")
    return data


def _key(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("int", "float", "str", "list[str]", "literal['max']", "bool") or part.startswith(
            ("literal[", "function-")
        ):
            continue  # pydantic names the union member it tried; the reader wants the key only
        else:
            out += ("." if out else "") + ("schema" if part == "schema_" else part)
    return out


def _fields_at(loc: tuple[int | str, ...]) -> list[str]:
    """The keys allowed where an unknown key was found, for a suggestion."""
    model: Any = RecipeIn
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        if model is RecipeIn and part == "tools":
            model = ToolIn
            continue
        if model is ToolIn and part not in ToolIn.model_fields:
            continue  # the tool's name
        field = model.model_fields.get(part)
        model = field.annotation if field is not None else None
        args = getattr(model, "__args__", ())
        model = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), model)
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return []
    return [(f.alias or name) for name, f in model.model_fields.items()]


def _explain(exc: ValidationError, path: Path) -> RecipeError:
    """The first problem of a validation error, as 'file: key: what is wrong' (the others follow)."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = _key(loc)
        if err["type"] == "extra_forbidden":
            name = str(loc[-1])
            lines.append(f"{key}: unknown key.{did_you_mean(name, _fields_at(loc))}")
        elif err["type"] == "missing":
            lines.append(f"{key}: required")
        else:
            lines.append(f"{key}: {err['msg']} (got {err.get('input')!r:.60})")
    seen: list[str] = []
    for line in lines:
        if line not in seen:
            seen.append(line)
    more = f" (and {len(seen) - 1} more: {'; '.join(seen[1:4])})" if len(seen) > 1 else ""
    return RecipeError(f"{path}: {seen[0]}{more}")
