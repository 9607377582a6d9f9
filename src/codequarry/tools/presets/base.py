"""What a preset is: ready-made settings for one known tool, as an object the runner calls.

The plan, the runner, the result tables and the report know presets only through this class and
the registry in :mod:`codequarry.tools.presets`; none of them names a preset. A preset may:

- declare its own recipe keys (``options``, a pydantic model; they join ``[tools.NAME]``, and
  are refused on a tool of another preset),
- fill the generic settings it stands for (``settings``: command, schema command, protocol,
  output) and check the keys it needs,
- find the tool's targets (``targets``: the generic ``targets``/``files`` discovery, under other
  key names or replaced altogether),
- read a finished task's output (``classify``: change its status, return rows of its result
  table, ``dataset``),
- add lines to the run's summary (``summary_lines``).

The base class is also the "no preset" behaviour, so every hook has a working default.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel

from codequarry.errors import QuarryError
from codequarry.schema import DatasetSpec

if TYPE_CHECKING:
    from codequarry.tools.planned import TaskPlan

Settings = dict[str, Any]  # command, schema_command, protocol, output (None: not given)
_O = TypeVar("_O", bound=BaseModel)


@dataclass(frozen=True)
class Target:
    """One target of a tool: its name, its file (a file target), the lemma (or other sub-item) it
    checks, the group its rows belong to (their ``path``) and files every task of it reads."""

    target: str
    file: Path | None = None
    lemma: str | None = None
    group: str = ""
    includes: tuple[Path, ...] = ()


class Resolving(Protocol):
    """What the plan offers a preset while it resolves one ``[tools.NAME]`` section."""

    cwd: Path
    notes: list[str]

    def value(self, key: str) -> Any:
        """The value of key ``key`` of the tool's section (None when not given)."""
        ...

    def err(self, sub: str, message: str) -> QuarryError:
        """The error for key ``tools.NAME.<sub>`` of the recipe file."""
        ...

    def glob(self, key: str, patterns: list[str]) -> list[Path]:
        """The files the globs of key ``key`` match (relative to cwd); a glob matching none is an error."""
        ...

    def rel(self, p: Path) -> str:
        """A file's name relative to cwd (absolute when outside it)."""
        ...


class Preset:
    """A tool preset; this base class is the behaviour of a tool without one."""

    name: ClassVar[str] = ""
    options: ClassVar[type[BaseModel] | None] = None  # recipe keys of this preset only
    dataset: ClassVar[DatasetSpec | None] = None  # its result table, one row per task (or none)
    literal_key: ClassVar[str] = "targets"  # the key of literal targets
    files_key: ClassVar[str] = "files"  # the key of file globs, one target per file

    def option_names(self) -> tuple[str, ...]:
        return tuple(self.options.model_fields) if self.options is not None else ()

    def options_of(self, ctx: Resolving, model: type[_O]) -> _O:
        """This preset's keys of the tool as its own options model (validated with the recipe)."""
        return model.model_construct(**{k: ctx.value(k) for k in model.model_fields})

    def settings(self, given: Settings, ctx: Resolving) -> Settings:
        """The generic settings the preset stands for, the recipe's own values first."""
        return given

    def targets(self, ctx: Resolving) -> Iterable[Target]:
        """Literal targets (``literal_key``) and one target per file the globs of ``files_key`` match,
        a name given twice being one target. They come one at a time: 10^5 literal targets held as
        Target objects in a dict would cost the parent ~30 MB while it plans."""
        literal = ctx.value(self.literal_key) or []
        if not all(literal):
            raise ctx.err("targets", "a target is a non-empty string")
        files = ctx.glob(self.files_key, ctx.value(self.files_key) or [])
        if not literal and not files:
            which, key = self.literal_key, self.files_key
            raise ctx.err(which, f"no targets: give '{which}' (a list of strings) or '{key}' (globs)")
        return _unique_targets(literal, files, ctx)

    def classify(self, task: TaskPlan, outcome: dict[str, Any], output: str) -> list[dict[str, Any]]:
        """Read a finished task's output (stdout tail and stderr tail): may change ``outcome``'s
        status and message in place; returns the task's rows of ``dataset`` (provenance included)."""
        return []

    def summary_lines(self, results: Iterable[dict[str, Any]]) -> list[str]:
        """Lines for the run's summary, from the report's results of this preset's tools."""
        return []


def _unique_targets(literal: list[str], files: list[Path], ctx: Resolving) -> Iterator[Target]:
    """The targets in order, each name once (the first wins, as it did in a dict of them)."""
    seen: set[str] = set()
    for target in literal:
        if target not in seen:
            seen.add(target)
            yield Target(target, group=target)
    for p in files:
        rel = ctx.rel(p)
        if rel not in seen:
            seen.add(rel)
            yield Target(rel, p, group=rel)


GENERIC = Preset()
