"""Command-line arguments -> one frozen, fully resolved ExtractPlan: the single source of truth of a run."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from codequarry.api import FileExtractor, Operation
from codequarry.errors import DeclarationError, UsageError, did_you_mean
from codequarry.graph import RESERVED, build_graph, output_name
from codequarry.registry import Catalog, load_catalog
from codequarry.scan import SourceRoot, resolve_sources
from codequarry.schema import DatasetSpec

DEFAULT_MAX_FILE_SIZE = 10 * 1024 * 1024
ALWAYS = ("core",)
ENGINES = ("local", "ray")  # the manifest is part of every run


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
    file_timeout: float | None = 60.0  # seconds per file; None = no limit
    max_memory_per_worker: int | None = None  # bytes
    engine: str = "local"
    address: str | None = None  # Ray cluster address (None starts a local Ray)
    extractors: tuple[str, ...]  # resolved, in a stable order
    operations: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # why something was selected that was not asked for

    @property
    def repos(self) -> list[str]:
        return [s.repo for s in self.sources]


def _in_subtree(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@dataclass
class Selection:
    extractors: list[FileExtractor]
    operations: list[Operation]
    notes: list[str]


def select_nodes(catalog: Catalog, select: Iterable[str] = (), deselect: Iterable[str] = ()) -> Selection:
    """Pick extractors and operations by dotted-name subtrees; an operation pulls in the producers of
    what it reads. An unknown name is an error with a suggestion."""
    everything: dict[str, FileExtractor | Operation] = {**catalog.extractors, **catalog.operations}
    names = sorted(everything)
    groups = {".".join(n.split(".")[:i]) for n in names for i in range(1, n.count(".") + 2)}
    select = list(select)
    deselect = list(deselect)
    for s_ in [*select, *deselect]:
        if s_ not in groups:
            raise UsageError(f"unknown extractor, operation or group '{s_}'.{did_you_mean(s_, sorted(groups))}")

    def dropped(n: str) -> bool:
        return any(_in_subtree(n, d) for d in deselect) and not any(_in_subtree(n, a) for a in ALWAYS)

    def wanted(n: str) -> bool:
        if select:
            return any(_in_subtree(n, s_) for s_ in select)
        return getattr(everything[n], "default", True)

    chosen = {n for n in names if any(_in_subtree(n, a) for a in ALWAYS) or (wanted(n) and not dropped(n))}
    producers: dict[str, list[str]] = {}
    for n, node in everything.items():
        for out in node.outputs:
            producers.setdefault(output_name(out), []).append(n)
    notes: list[str] = []
    queue = sorted(n for n in chosen if n in catalog.operations)
    while queue:
        op = catalog.operations[queue.pop()]
        for inp in op.inputs:
            if inp in RESERVED:
                continue
            makers = producers.get(inp, [])
            if any(m in chosen for m in makers) or not makers:
                continue  # produced already, or an error build_graph reports with a suggestion
            if len(makers) > 1:
                raise DeclarationError(f"operation '{op.name}' reads '{inp}', which {makers} all produce; "
                                       "select one of them")
            maker = makers[0]
            if dropped(maker):
                raise UsageError(f"operation '{op.name}' reads '{inp}', made by '{maker}', which --skip leaves "
                                 f"out; skip '{op.name}' too, or keep '{maker}'")
            chosen.add(maker)
            notes.append(f"selected '{maker}' because '{op.name}' reads '{inp}'")
            if maker in catalog.operations:
                queue.append(maker)
    extractors = [catalog.extractors[n] for n in names if n in chosen and n in catalog.extractors]
    operations = [catalog.operations[n] for n in names if n in chosen and n in catalog.operations]
    build_graph(extractors, operations)  # checks producers, inputs and cycles before any file is read
    return Selection(extractors, operations, notes)


def check_outputs(extractors: Iterable[FileExtractor]) -> dict[str, DatasetSpec]:
    """Dataset name -> declared spec for the file extractors (each dataset has one producer)."""
    g = build_graph(extractors, [])
    return {name: spec for name, spec in g.specs.items()}


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
    file_timeout: float | None = 60.0,
    max_memory_per_worker: int | None = None,
    engine: str = "local",
    address: str | None = None,
    catalog: Catalog | None = None,
) -> ExtractPlan:
    select_ = tuple(select)
    from codequarry.engine.local import default_workers

    roots = resolve_sources(sources)
    store_path = Path(store).expanduser().resolve() if store else Path(roots[0].root) / ".quarry"
    if workers is not None and workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    if engine not in ENGINES:
        raise UsageError(f"unknown engine '{engine}'.{did_you_mean(engine, ENGINES)} Engines: {', '.join(ENGINES)}")
    if address is not None and engine != "ray":
        raise UsageError("--address is for --engine ray")
    if file_timeout is not None and file_timeout <= 0:
        file_timeout = None  # 0 means no limit
    if max_memory_per_worker is not None and max_memory_per_worker < 64 * 1024 * 1024:
        raise UsageError("--max-memory-per-worker below 64MB leaves no room for the interpreter itself")
    if max_file_size <= 0:
        raise UsageError(f"--max-file-size must be positive, got {max_file_size}")
    catalog = catalog or load_catalog(plugins)
    chosen = select_nodes(catalog, select_, deselect)
    return ExtractPlan(
        sources=tuple(roots),
        store=store_path,
        workers=workers or default_workers(),
        exclude=tuple(exclude),
        plugins=tuple(plugins),
        select=select_,
        deselect=tuple(deselect),
        max_file_size=max_file_size,
        file_timeout=file_timeout,
        max_memory_per_worker=max_memory_per_worker,
        engine=engine,
        address=address,
        extractors=tuple(ex.name for ex in chosen.extractors),
        operations=tuple(op.name for op in chosen.operations),
        notes=tuple(chosen.notes),
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


def format_size(n: int) -> str:
    """Bytes for people: 512 B, 1.5 KB, 12.0 MB, 2.3 GB (the inverse of parse_size, roughly)."""
    value = float(n)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} GB"
