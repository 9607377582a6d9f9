"""Command-line arguments -> one frozen, fully resolved ExtractPlan: the single source of truth of a run."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from codequarry.api import FileExtractor
from codequarry.errors import DeclarationError, UsageError, did_you_mean
from codequarry.registry import Catalog, load_catalog
from codequarry.scan import SourceRoot, resolve_sources
from codequarry.schema import DatasetSpec

DEFAULT_MAX_FILE_SIZE = 10 * 1024 * 1024
ALWAYS = ("core",)  # the manifest is part of every run


class ExtractPlan(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    sources: tuple[SourceRoot, ...]
    store: Path
    workers: int = Field(ge=1)
    exclude: tuple[str, ...] = ()
    plugins: tuple[str, ...] = ()
    select: tuple[str, ...] = ()
    deselect: tuple[str, ...] = ()
    max_file_size: int = Field(DEFAULT_MAX_FILE_SIZE, gt=0)
    extractors: tuple[str, ...]  # resolved, in a stable order

    @property
    def repos(self) -> list[str]:
        return [s.repo for s in self.sources]


def _in_subtree(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def select_extractors(catalog: Catalog, select: Iterable[str], deselect: Iterable[str]) -> list[FileExtractor]:
    """Pick extractors by dotted-name subtrees; an unknown name is an error with a suggestion."""
    names = sorted(catalog.extractors)
    groups = {".".join(n.split(".")[:i]) for n in names for i in range(1, n.count(".") + 2)}
    select = list(select)
    deselect = list(deselect)
    for s in [*select, *deselect]:
        if s not in groups:
            raise UsageError(f"unknown extractor or group '{s}'.{did_you_mean(s, sorted(groups))}")
    chosen = []
    for n in names:
        forced = any(_in_subtree(n, a) for a in ALWAYS)
        picked = not select or any(_in_subtree(n, s) for s in select)
        dropped = any(_in_subtree(n, d) for d in deselect)
        if forced or (picked and not dropped):
            chosen.append(catalog.extractors[n])
    check_outputs(chosen)
    return chosen


def check_outputs(extractors: Iterable[FileExtractor]) -> dict[str, DatasetSpec]:
    """Each dataset has exactly one producer; returns dataset name -> spec."""
    producers: dict[str, tuple[str, DatasetSpec]] = {}
    for ex in extractors:
        for spec in ex.outputs:
            if spec.name == "errors":
                raise DeclarationError(f"extractor '{ex.name}' declares 'errors', which codequarry itself writes")
            if spec.name in producers:
                raise DeclarationError(
                    f"dataset '{spec.name}' has two producers: '{producers[spec.name][0]}' and '{ex.name}'; "
                    "give one of them another dataset name"
                )
            producers[spec.name] = (ex.name, spec)
    return {name: spec for name, (_, spec) in producers.items()}


def make_plan(
    sources: Iterable[str | Path],
    *,
    store: str | Path | None = None,
    workers: int | None = None,
    exclude: Iterable[str] = (),
    plugins: Iterable[str] = (),
    select: Iterable[str] = (),
    deselect: Iterable[str] = (),
    max_file_size: int = DEFAULT_MAX_FILE_SIZE,
    catalog: Catalog | None = None,
) -> ExtractPlan:
    from codequarry.engine.local import default_workers

    roots = resolve_sources(sources)
    store_path = Path(store).expanduser().resolve() if store else Path(roots[0].root) / ".quarry"
    if workers is not None and workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    if max_file_size <= 0:
        raise UsageError(f"--max-file-size must be positive, got {max_file_size}")
    catalog = catalog or load_catalog(plugins)
    chosen = select_extractors(catalog, select, deselect)
    return ExtractPlan(
        sources=tuple(roots),
        store=store_path,
        workers=workers or default_workers(),
        exclude=tuple(exclude),
        plugins=tuple(plugins),
        select=tuple(select),
        deselect=tuple(deselect),
        max_file_size=max_file_size,
        extractors=tuple(ex.name for ex in chosen),
    )


def parse_size(text: str) -> int:
    """'10MB', '512k', '2GiB', '1000' -> bytes."""
    raw = text.strip().lower().replace(" ", "")
    units = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
             "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30}
    num = raw.rstrip("kmgib")
    unit = raw[len(num):]
    try:
        value = float(num)
    except ValueError:
        raise UsageError(f"cannot read size '{text}': use a number with an optional unit, like 10MB") from None
    if unit not in units or value <= 0:
        raise UsageError(f"cannot read size '{text}': use a positive number with KB, MB or GB")
    return int(value * units[unit])
