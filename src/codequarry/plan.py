"""Command-line arguments -> one frozen plan of a run, resolved once: the single source of truth.

Two objects, one for each job:

- :class:`ExtractPlan` is the request: the options and the chosen extractor and operation *names*;
  a frozen dataclass with a pydantic model's JSON methods (plaindata.py), serialisable (a tools
  recipe and its report carry it as JSON, the Prefect steps rebuild it from their arguments).
- :class:`Plan` is that request resolved against the catalog: the extractor and operation objects
  with their versions, the DAG (producers, schemas, layers), and where each one came from.
  :func:`make_plan` builds it with one catalog load and one graph build; ``run.extract`` executes it,
  ``quarry plan`` (explain.py) renders it, and operations read its graph: nothing resolves twice.

What the files need (the scan and the worklist per extractor) depends on the store's last snapshot,
which a run may only read under the store's writer lock: worklist.py computes it, in one place, for
the run (under the lock) and for ``quarry plan`` (a read-only preview).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codequarry.api import FileExtractor, Operation, effective_version
from codequarry.errors import DeclarationError, UsageError, did_you_mean
from codequarry.graph import RESERVED, Graph, build_graph, output_name
from codequarry.plaindata import Plain
from codequarry.registry import Catalog, load_catalog
from codequarry.scan import SourceRoot, resolve_sources
from codequarry.schema import DatasetSpec

DEFAULT_MAX_FILE_SIZE = 10 * 1024 * 1024
MIN_WORKER_MEMORY = 64 * 1024 * 1024
#: more than any machine holds, and still an address-space limit the kernel takes (a 64-bit value)
MAX_WORKER_MEMORY = 1 << 60
#: by default the workers of a run together may hold this share of the machine's memory (each its
#: part of it), and the parent, the page cache and everything else on the machine keep the rest
WORKER_MEMORY_SHARE = 0.5
ALWAYS = ("core",)
ENGINES = ("local", "ray")  # the manifest is part of every run


@dataclass(frozen=True, kw_only=True)
class ExtractPlan(Plain):
    """The request of a run: options and the chosen names (see :class:`Plan` for the objects).

    A plain frozen dataclass with pydantic's JSON methods (plaindata.py): pydantic is not imported
    by a run. As the pydantic model it was, it converts lists to tuples and a string ``store`` to a
    path, and rejects ``workers`` below 1 and a ``max_file_size`` not above 0 (``ValueError``)."""

    sources: tuple[SourceRoot, ...]
    store: Path
    workers: int
    exclude: tuple[str, ...] = ()
    plugins: tuple[str, ...] = ()
    select: tuple[str, ...] = ()
    deselect: tuple[str, ...] = ()
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    file_timeout: float | None = 60.0  # seconds per file; None = no limit
    max_memory_per_worker: int | None = None  # bytes; None: the default (worker_memory), 0: none
    engine: str = "local"
    address: str | None = None  # Ray cluster address (None starts a local Ray)
    include_generated: bool = False  # parse minified build outputs too (generated.py)
    extractors: tuple[str, ...]  # resolved, in a stable order
    operations: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # why something was selected that was not asked for
    warnings: tuple[str, ...] = ()  # an option changed to a value that works (printed even with --quiet)

    def __post_init__(self) -> None:
        super().__post_init__()  # lists given become tuples, a string store a path
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise ValueError(f"workers: should be a whole number of at least 1, got {self.workers!r}")
        if (
            isinstance(self.max_file_size, bool)
            or not isinstance(self.max_file_size, int)
            or self.max_file_size <= 0
        ):
            raise ValueError(f"max_file_size: should be a number above 0, got {self.max_file_size!r}")

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
    graph: Graph  # of the chosen nodes, checked (producers, inputs, cycles)


@dataclass(frozen=True, eq=False)
class Plan:
    """A request resolved once: what ``run.extract`` executes and ``quarry plan`` renders.

    ``extractors`` and ``operations`` are the declared objects (their names are ``request``'s), in the
    request's order; ``graph`` holds the producers, the declared schemas and the operation layers."""

    request: ExtractPlan
    catalog: Catalog
    graph: Graph

    @property
    def extractors(self) -> list[FileExtractor]:
        return self.graph.extractors

    @property
    def operations(self) -> list[Operation]:
        return self.graph.operations

    @property
    def versions(self) -> dict[str, int]:
        """Name -> the version incremental runs record (an extractor's counts its parse products)."""
        out = {ex.name: effective_version(ex) for ex in self.extractors}
        out.update((op.name, op.version) for op in self.operations)
        return out

    @property
    def layers(self) -> list[list[str]]:
        """Layer 0, the file extractors (every file in parallel); then the operations, layer by layer."""
        return [[ex.name for ex in self.extractors], *self.graph.layers]

    @property
    def file_specs(self) -> dict[str, DatasetSpec]:
        """Dataset -> declared schema, for the tables the file extractors write."""
        mine = {ex.name for ex in self.extractors}
        return {n: spec for n, spec in self.graph.specs.items() if self.graph.producers.get(n) in mine}

    # the request's options, read through the plan (``plan.request`` has them all)
    @property
    def sources(self) -> tuple[SourceRoot, ...]:
        return self.request.sources

    @property
    def store(self) -> Path:
        return self.request.store

    @property
    def workers(self) -> int:
        return self.request.workers

    @property
    def plugins(self) -> tuple[str, ...]:
        return self.request.plugins

    @property
    def notes(self) -> tuple[str, ...]:
        return self.request.notes

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.request.warnings

    @property
    def repos(self) -> list[str]:
        return self.request.repos

    def replace(self, **changes: Any) -> Plan:
        """This plan with some request fields changed (``sources=``, ``operations=()``), resolved from
        the same catalog: no plugin is imported again; the graph is rebuilt only for a new selection."""
        request = self.request.model_copy(update=changes)
        if {"extractors", "operations", "include_generated"} & set(changes):
            return resolve(request, self.catalog)
        return dataclasses.replace(self, request=request)


def resolve(request: ExtractPlan, catalog: Catalog | None = None) -> Plan:
    """Resolve a request's names against ``catalog`` (loaded from its plugins when not given)."""
    catalog = catalog or load_catalog(request.plugins)
    missing = [n for n in request.extractors if n not in catalog.extractors]
    missing += [n for n in request.operations if n not in catalog.operations]
    if missing:
        raise UsageError(
            f"the plan names {', '.join(missing)}, which no built-in extractor or loaded plugin "
            f"declares (plugins: {', '.join(request.plugins) or 'none'}); was a plugin removed?"
        )
    graph = build_graph(
        including_generated([catalog.extractors[n] for n in request.extractors], request.include_generated),
        [catalog.operations[n] for n in request.operations],
    )
    return Plan(request=request, catalog=catalog, graph=graph)


def including_generated(extractors: list[FileExtractor], include: bool) -> list[FileExtractor]:
    """The extractors as a run with ``--include-generated`` (``include``) runs them: those that
    would skip minified build outputs parse them, and record another version (api.effective_version)."""
    if not include:
        return extractors
    return [
        dataclasses.replace(ex, include_generated=True) if ex.skips_generated else ex for ex in extractors
    ]


def as_plan(plan: Plan | ExtractPlan, catalog: Catalog | None = None) -> Plan:
    """``plan`` itself when resolved; a request is resolved (the Python API accepts both)."""
    return plan if isinstance(plan, Plan) else resolve(plan, catalog)


def select_nodes(
    catalog: Catalog,
    select: Iterable[str] = (),
    deselect: Iterable[str] = (),
    *,
    include_generated: bool = False,
) -> Selection:
    """Pick extractors and operations by dotted-name subtrees; an operation pulls in the producers of
    what it reads. An unknown name is an error with a suggestion. ``include_generated``: the
    extractors as --include-generated runs them (:func:`including_generated`)."""
    everything: dict[str, FileExtractor | Operation] = {**catalog.extractors, **catalog.operations}
    names = sorted(everything)
    groups = {".".join(n.split(".")[:i]) for n in names for i in range(1, n.count(".") + 2)}
    select = list(select)
    deselect = list(deselect)
    for s_ in [*select, *deselect]:
        if s_ not in groups:
            raise UsageError(
                f"unknown extractor, operation or group '{s_}'.{did_you_mean(s_, sorted(groups))}"
            )

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
                raise DeclarationError(
                    f"operation '{op.name}' reads '{inp}', which {makers} all produce; select one of them"
                )
            maker = makers[0]
            if dropped(maker):
                raise UsageError(
                    f"operation '{op.name}' reads '{inp}', made by '{maker}', which --skip leaves "
                    f"out; skip '{op.name}' too, or keep '{maker}'"
                )
            chosen.add(maker)
            notes.append(f"selected '{maker}' because '{op.name}' reads '{inp}'")
            if maker in catalog.operations:
                queue.append(maker)
    extractors = [catalog.extractors[n] for n in names if n in chosen and n in catalog.extractors]
    extractors = including_generated(extractors, include_generated)
    operations = [catalog.operations[n] for n in names if n in chosen and n in catalog.operations]
    graph = build_graph(extractors, operations)  # checks producers, inputs and cycles before any file is read
    return Selection(extractors, operations, notes, graph)


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
    repo: str | None = None,
    include_generated: bool = False,
) -> Plan:
    """Check the options, load the catalog (built-ins, entry points, ``plugins``) once, choose the
    extractors and operations, and build their DAG once: the resolved :class:`Plan` of a run."""
    select_ = tuple(select)
    from codequarry.cores import default_workers

    roots = resolve_sources(sources)
    if repo is not None:
        roots = [name_repo(roots, repo)]
    store_path = Path(store).expanduser().resolve() if store else default_store(roots[0])
    if engine not in ENGINES:
        raise UsageError(
            f"unknown engine '{engine}'.{did_you_mean(engine, ENGINES)} Engines: {', '.join(ENGINES)}"
        )
    if address is not None and engine != "ray":
        raise UsageError("--address is for --engine ray")
    file_timeout = check_timeout(file_timeout)
    check_limits(max_file_size, max_memory_per_worker)
    workers, capped = check_workers(workers, default_workers(), local=engine == "local")
    catalog = catalog or load_catalog(plugins)
    chosen = select_nodes(catalog, select_, deselect, include_generated=include_generated)
    request = ExtractPlan(
        sources=tuple(roots),
        store=store_path,
        workers=workers,
        exclude=tuple(exclude),
        plugins=tuple(plugins),
        select=select_,
        deselect=tuple(deselect),
        max_file_size=max_file_size,
        file_timeout=file_timeout,
        max_memory_per_worker=max_memory_per_worker,
        engine=engine,
        address=address,
        include_generated=include_generated,
        extractors=tuple(ex.name for ex in chosen.extractors),
        operations=tuple(op.name for op in chosen.operations),
        notes=tuple(chosen.notes),
        warnings=tuple(capped),
    )
    return Plan(request=request, catalog=catalog, graph=chosen.graph)


def default_store(first: SourceRoot) -> Path:
    """SOURCE/.quarry; for a single file, the nearest existing store of its folder or a parent
    folder (the store of the repo holding it), else one beside it."""
    here = Path(first.root)
    if first.only is not None:
        for folder in (here, *here.parents):
            if (folder / ".quarry" / "store.json").is_file():
                return _not_a_link(folder / ".quarry")
    return _not_a_link(here / ".quarry")


def _not_a_link(store: Path) -> Path:
    """The default store ``store``, refused when it is a symbolic link: a repository can ship
    ``.quarry`` linked to any folder (an empty one anywhere, or another store of the user's), and the
    run wrote there, outside the source, to a place the user never named."""
    if store.is_symlink():
        import os

        raise UsageError(
            f"the default store '{store}' is a symbolic link (to '{os.readlink(store)}'): it is not "
            "followed out of the source; give the store's place with --store PATH"
        )
    return store


def name_repo(roots: list[SourceRoot], repo: str) -> SourceRoot:
    """The one source, named ``repo`` (--repo NAME): the name is then its identity (see repos.py)."""
    import dataclasses

    if len(roots) != 1:
        raise UsageError(f"--repo names one source; {len(roots)} were given (run once per source)")
    if not repo.strip() or repo != repo.strip() or "/" in repo or "\\" in repo or not repo.isprintable():
        raise UsageError(f"--repo {repo!r}: give a plain name (no '/', no leading or trailing space)")
    return dataclasses.replace(roots[0], repo=repo, named=True)


def check_workers(workers: int | None, cores: int, *, local: bool) -> tuple[int, list[str]]:
    """The number of worker processes to start, and a note when it is not the one asked for.

    More local workers than the cores this process may run on (its CPU affinity) only make the
    processes compete for the cores and multiply the memory, so the local engine caps the number to
    the cores, with a note; Ray workers run on a cluster's cores and are not capped here.
    """
    if workers is None:
        return cores, []
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UsageError(
            f"--workers must be a whole number of at least 1, got {workers!r} "
            f"(default: one per core, {cores} here; 1 runs in the calling process)"
        )
    if local and workers > cores:
        return cores, [
            f"--workers {workers} capped to {cores}: this process may use {cores} core(s), and more "
            "worker processes than cores only compete for them (use --engine ray for more cores)"
        ]
    return workers, []


def check_timeout(seconds: float | None, option: str = "--file-timeout") -> float | None:
    """A per-file time limit in seconds: a positive finite number, or 0 / None for no limit."""
    if seconds is None:
        return None
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or math.isnan(seconds)
        or seconds < 0
    ):
        raise UsageError(f"{option} must be a number of seconds, 0 for no limit, got {seconds!r}")
    if seconds == 0 or math.isinf(seconds):
        return None
    return float(seconds)


def check_limits(max_file_size: int, max_memory_per_worker: int | None) -> None:
    """Sizes in bytes: a file-size limit above 0, a worker memory limit that leaves room for Python."""
    if isinstance(max_file_size, bool) or not isinstance(max_file_size, int) or max_file_size <= 0:
        raise UsageError(f"--max-file-size must be a positive size like 10MB, got {max_file_size!r}")
    if max_memory_per_worker is not None and (
        isinstance(max_memory_per_worker, bool)
        or not isinstance(max_memory_per_worker, int)
        or (max_memory_per_worker < MIN_WORKER_MEMORY and max_memory_per_worker != 0)
    ):
        raise UsageError(
            f"--max-memory-per-worker must be at least 64MB (a worker's interpreter and parsers "
            f"alone need that much), got {max_memory_per_worker!r} bytes; e.g. 2GB, or off for none"
        )
    if max_memory_per_worker is not None and max_memory_per_worker > MAX_WORKER_MEMORY:
        # each worker's address-space limit (its size + this) did not fit the kernel's 64-bit value:
        # every worker died at its start with a traceback
        raise UsageError(
            "--max-memory-per-worker must be at most 1024 PB (2**60 bytes, more than any machine "
            f"holds), got {max_memory_per_worker} bytes; off sets no limit"
        )


def parse_memory(text: str) -> int:
    """--max-memory-per-worker: a size (parse_size), or ``off`` (also ``none``, ``0``): 0, no limit."""
    if text.strip().lower() in ("off", "none", "0"):
        return 0
    return parse_size(text)


def default_worker_memory(workers: int, machine: int) -> int:
    """The default memory limit of each of ``workers`` workers on a machine (or container) of
    ``machine`` bytes: their share of WORKER_MEMORY_SHARE of it, never below MIN_WORKER_MEMORY."""
    return max(MIN_WORKER_MEMORY, int(machine * WORKER_MEMORY_SHARE) // max(1, workers))


@dataclass(frozen=True)
class WorkerMemory:
    """The memory limit of each worker of a run (bytes, or None) and where it comes from."""

    limit: int | None
    default: bool  # derived from the machine, not given
    origin: str  # for the summary: why this limit, or why none


def worker_memory(request: ExtractPlan) -> WorkerMemory:
    """A run's worker memory limit: the one given (``--max-memory-per-worker``; ``off``, none), else
    for the local engine's worker processes the default share of this machine's memory (the
    container's, when a cgroup holds this process to less: cgroup.machine_memory). No default for one
    worker (the files run in the calling process, which a limit would stop as a whole) nor for Ray
    (its workers run on a cluster's machines, whose memory is not this one's)."""
    given = request.max_memory_per_worker
    if given == 0:
        return WorkerMemory(None, False, "--max-memory-per-worker off")
    if given is not None:
        return WorkerMemory(given, False, "--max-memory-per-worker")
    if request.engine != "local":
        return WorkerMemory(None, False, f"the {request.engine} engine sets none unless given")
    if request.workers <= 1:
        return WorkerMemory(None, False, "one worker: the files run in this process")
    from codequarry import cgroup

    machine = cgroup.machine_memory()
    share = f"{WORKER_MEMORY_SHARE:.0%} of {format_size(machine)} over {request.workers} workers"
    return WorkerMemory(default_worker_memory(request.workers, machine), True, f"default: {share}")


def parse_size(text: str) -> int:
    """'10MB', '512k', '2GiB', '1000' -> bytes."""
    raw = text.strip().lower().replace(" ", "")
    units = {
        "": 1,
        "b": 1,
        "k": 1 << 10,
        "kb": 1 << 10,
        "kib": 1 << 10,
        "m": 1 << 20,
        "mb": 1 << 20,
        "mib": 1 << 20,
        "g": 1 << 30,
        "gb": 1 << 30,
        "gib": 1 << 30,
    }
    num = raw.rstrip("kmgib")
    unit = raw[len(num) :]
    try:
        value = float(num)
    except ValueError:
        raise UsageError(
            f"cannot read size '{text}': use a number with an optional unit, like 10MB"
        ) from None
    if unit not in units or not math.isfinite(value) or value <= 0:
        raise UsageError(f"cannot read size '{text}': use a positive number with KB, MB or GB, like 10MB")
    return int(value * units[unit])


def format_size(n: int) -> str:
    """Bytes for people: 512 B, 1.5 KB, 12.0 MB, 2.3 GB (the inverse of parse_size, roughly)."""
    value = float(n)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} GB"
