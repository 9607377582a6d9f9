"""Pay once per unique content: a file whose bytes were already extracted is not parsed again.

ML corpora repeat the same blobs across thousands of repositories (forks, vendored copies, generated
files). Before a run extracts its new and changed files, the parent hashes them (sha256, a read: cheap
next to a parse) and looks each up by its *reuse key*:

- the content's sha256 (cryptographic: two different contents never share rows),
- the file's language, and its module name and package flag (rows carry the module name, and
  relative imports resolve against it: both come from the path and the package layout around it),
- its base name (test discovery reads ``test_*.py``, tree-sitter picks a grammar by extension), or
  its whole path when an extractor whose rows may depend on more of the path is selected
  (:data:`BASENAME_SAFE` lists the built-ins known to read no more; plugins and the opt-in layers that
  hand the path to ``compile``/``symtable`` are not in it).

A key already present in the store, in a repo whose extractor state is exactly this run's selection
and whose file is not replaced by this run, is a *stored source*; otherwise the first task with the
key is extracted (a *leader*) and the others wait for it. After the engine has run, the rows of each
source are copied, table by table, with the follower's provenance: ``repo`` and ``path`` (and, in
``files``, the follower's own ``mtime_ns``); every other column is equal by the key. The copies are
new Parquet parts of the same run transaction, so each repo owns its rows: removing or editing one
copy never touches another repo's.

A leader whose stored sha256 differs from the hash taken at planning (the file changed in between)
does not vouch for its followers: they are extracted in a second pass. The selection ``blobs`` needs
nothing here (it is an operation over ``files``).

Files no extractor but the manifest reads are no candidates: the same read pass of the parent makes
their ``files`` rows (manifest_rows.py), written by :func:`copy_rows` with the copies. A file over
``--max-file-size`` is one (up to :data:`BIG_CANDIDATE_BYTES`): a worker hashes it, counts its lines
and writes its ``too_large`` errors row, and its twins take both rows. The read pass reads a file
with several hard links once (manifest_rows._Links).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from codequarry import opread
from codequarry.api import FileExtractor, effective_version
from codequarry.engine.worker import FileTask
from codequarry.incremental import MANIFEST, WorkPlan
from codequarry.manifest_rows import build_rows, read_pass
from codequarry.parts import Part, RepoKeys, write_part
from codequarry.store import Snapshot, Store
from codequarry.store.store import damaged, files_outside, read_columns, unreadable_part

Key = tuple[str, str]  # (repo, path)
ReuseKey = tuple[str, str | None, str | None, bool, str]  # sha256, language, module, is_package, name

#: built-in extractors (by name, prefix when ending in '.') whose rows depend on a file's path through
#: its base name and its module name only; with any other extractor selected the key holds the path
BASENAME_SAFE = (
    "core.files",
    "python.core.",
    "python.env.reads",
    "python.sql.strings",
    "python.security.",
    "python.web.route_facts",
    "python.models.classes",
    "python.tasks.",
    "python.tests.facts",
    "treesitter.",
    "python.layers.parse_manifest",
)
PART_ROWS = 1 << 18  # rows per Parquet part written for copies (bounds the parent's memory)
#: ... and at most about this many bytes of Arrow data (the table's bytes a row where the part's
#: rows come from): a part is gathered, made one chunk and encoded at once, so a 2^18-row part of
#: `calls` (~55 MB) held ~3x that in the parent at 20x the standard library (docs/scale.md)
PART_BYTES = 8 << 20
SOURCE_BATCH = 2048  # sources whose rows are read at once, table by table (bounds it too)
#: ... and at most this many bytes of their content (a source's rows grow with its size: 2 MB of
#: Python is ~20k `calls` rows, ~5 MB of Arrow data), so that a batch's rows, not the corpus, set
#: the copy's memory (8 MB read ~65 MB of `calls` row groups at once at 20x)
SOURCE_BYTES = 2 << 20
#: stored files rows one candidate is worth reading for the store lookup: a parse saved (~5 ms) pays
#: for reading ~1,600 rows of the files table (~3 us each); an edit of one file in a store of many
#: repos does not read the whole manifest to find a twin (copies within the run are still found)
LOOKUP_ROWS = 1000
#: a follower of one of the run's own leaders at most this big is parsed by a worker rather than
#: copied by the parent, when such followers are at most REPARSE_SHARE of the run's tasks: the copy
#: reads back every part of every table the run wrote (a serial cost of the run's size, ~0.8 s on a
#: cold stdlib for 77 empty `__init__.py` and 58-byte `__main__.py`), while parsing a small file
#: costs a worker milliseconds, in parallel. A run made mostly of copies (forks, vendored trees)
#: still copies: there the read-back is paid once for many rows.
#: a file over --max-file-size at most this big is a reuse candidate (hashed by the parent, whose read
#: pass has no --file-timeout; a bigger one stays the worker's, under the timeout)
BIG_CANDIDATE_BYTES = 256 << 20
REPARSE_BYTES = 4096
REPARSE_SHARE = 1 / 16


@dataclass
class Follower:
    task: FileTask
    sha256: str
    source: Key  # the (repo, path) whose rows it takes
    stored: bool  # the source is in the last snapshot (else a leader of this run)


@dataclass
class ReusePlan:
    followers: list[Follower] = field(default_factory=list)
    expected: dict[Key, str] = field(default_factory=dict)  # leader -> the sha256 hashed at planning
    hashed: int = 0  # files hashed by the parent for the lookup
    #: the ``files`` rows of the files only the manifest reads, made by the parent (manifest_rows.py)
    manifest: pa.RecordBatch | None = None
    #: on a first run (no snapshot before), the run's repos grouped by their files' reuse keys: a
    #: group's repos hold the same rows but for ``repo`` in every file table but ``files`` (whose
    #: ``mtime_ns`` is each file's own) and ``errors`` (operations add to it); see :func:`twin_groups`
    twins: tuple[tuple[str, ...], ...] | None = None

    def __bool__(self) -> bool:
        return bool(self.followers) or self.manifest is not None


def _basename_safe(ex: FileExtractor) -> bool:
    """A built-in extractor (by module) named in BASENAME_SAFE."""
    return ex.module.startswith("codequarry.extractors.") and any(
        ex.name == p or (p.endswith(".") and ex.name.startswith(p)) for p in BASENAME_SAFE
    )


def _name_part(extractors: list[FileExtractor]) -> Callable[[str], str]:
    """The part of the path the reuse key holds: the base name when every selected extractor is known
    to read no more of it, else the whole path."""
    if all(_basename_safe(ex) for ex in extractors):
        return lambda path: path.rsplit("/", 1)[-1]
    return lambda path: path


def plan_reuse(
    store: Store,
    previous: Snapshot | None,
    work: WorkPlan,
    extractors: list[FileExtractor],
    max_file_size: int | None = None,
) -> ReusePlan:
    """Hash the work's new and changed files, and take out of ``work.tasks`` every one whose rows can
    be copied from a stored file or from another task of this run (see the module docstring); with
    ``max_file_size`` (the run's), also every file only the manifest reads: the parent reads it in
    the same pass and makes its ``files`` row (manifest_rows.py).

    Only files that *could* have a twin are hashed: those whose size, language and name part another
    task or a stored file shares (a corpus without copies pays a few hashes, not one per file)."""
    plan = ReusePlan()
    if os.environ.get("QUARRY_REUSE", "1") == "0":  # off: every file is parsed (benchmarks' baseline)
        return plan
    manifest = next((ex for ex in extractors if ex.name == MANIFEST), None)
    if manifest is None:
        return plan
    tasks = len(work.tasks)
    parsed = {t.language for t in work.tasks}
    parsed = {lang for lang in parsed if any(ex.applies_to(lang) for ex in extractors if ex.name != MANIFEST)}
    # a file over --max-file-size is hashed (and its lines counted) by a worker and gets an errors row
    # (too_large) whatever its language: a candidate too, up to BIG_CANDIDATE_BYTES (100 copies of
    # the stdlib hold 100 copies of the 45 MB libpython3.11.a: 4.5 GB read by the workers)
    big = max_file_size or 0
    whole = [
        t
        for t in work.tasks
        if t.only is None and (t.language in parsed or (big > 0 and big < t.size <= BIG_CANDIDATE_BYTES))
    ]
    # a file no extractor but the manifest reads is no reuse candidate: reading it is all it costs, and
    # the parent makes its files row in the same pass (one over --max-file-size: the worker's errors row)
    only = [
        t
        for t in work.tasks
        if max_file_size and t.only is None and t.language not in parsed and t.size <= max_file_size
    ]
    name = _name_part(extractors)
    maybe, stored = _maybe_twins(store, previous, work, extractors, whole, name)
    hashes, read = read_pass(maybe, only, max_file_size or 0)
    plan.hashed = len(maybe)
    every, done = work.tasks, set()
    if only:
        plan.manifest, back = build_rows(manifest, only, read)
        done = {id(t) for t in only} - {id(t) for t in back}
        work.tasks = [t for t in work.tasks if id(t) not in done]
    if not hashes:
        return plan
    keys = {
        t.key: (sha, t.language, t.module, t.is_package, name(t.path))
        for t in maybe
        if (sha := hashes.get(t.key)) is not None
    }
    if previous is None:  # the run's repos are the store's: their twins are known from the keys
        plan.twins = twin_groups(every, keys, done)
    sources = _stored_sources(store, previous, stored, {k[0] for k in keys.values()}, name)
    leaders: dict[ReuseKey, Key] = {}
    kept: list[FileTask] = []
    for t in work.tasks:
        rk = keys.get(t.key) if t.only is None else None
        if rk is None:
            kept.append(t)
        elif rk in sources:
            plan.followers.append(Follower(t, rk[0], sources[rk], True))
        elif rk in leaders:
            plan.followers.append(Follower(t, rk[0], leaders[rk], False))
        else:
            leaders[rk] = (t.repo, t.path)
            plan.expected[(t.repo, t.path)] = rk[0]
            kept.append(t)
    back_ids = _reparsed(plan, kept, tasks)
    work.tasks = [t for t in work.tasks if id(t) in back_ids] if back_ids else kept
    return plan


def twin_groups(
    tasks: list[FileTask], keys: Mapping[int, ReuseKey], files_only: set[int]
) -> tuple[tuple[str, ...], ...]:
    """The repos of ``tasks`` (every file of a first run) grouped, in repo order, by their files:
    two repos are in one group when they have the same paths and, at each path, files of the same
    reuse key (``keys``, by task key: rows equal but for repo and path), or files whose only row is their
    ``files`` row (``files_only``: ids of tasks). A repo with any other file is alone."""
    shape: dict[str, list[tuple[str, ReuseKey | None]]] = defaultdict(list)
    alone: set[str] = set()
    for t in tasks:
        rk = keys.get(t.key) if t.only is None else None
        if rk is not None:
            shape[t.repo].append((t.path, rk))
        elif id(t) in files_only:
            shape[t.repo].append((t.path, None))
        else:
            alone.add(t.repo)
    groups: dict[object, list[str]] = defaultdict(list)
    for repo in sorted(shape.keys() | alone):
        groups[repo if repo in alone else tuple(sorted(shape[repo]))].append(repo)
    return tuple(tuple(g) for g in groups.values())


def _maybe_twins(
    store: Store,
    previous: Snapshot | None,
    work: WorkPlan,
    extractors: list[FileExtractor],
    whole: list[FileTask],
    name: Callable[[str], str],
) -> tuple[list[FileTask], pa.Table | None]:
    """The tasks of ``whole`` that could have a twin: another task or a stored file shares their
    size, language and name part (only those are hashed); and the stored files rows looked at."""
    if not whole:
        return [], None
    stored = None
    stored_rows = previous.tables["files"].rows if previous is not None and "files" in previous.tables else 0
    if len(whole) * LOOKUP_ROWS >= stored_rows:  # a watch batch of one file skips a huge store
        stored = _stored_files(store, previous, work, extractors)
    shape: dict[tuple[int, str | None, str], int] = defaultdict(int)
    for t in whole:
        shape[(t.size, t.language, name(t.path))] += 1
    if stored is not None:
        for size, lang, path in zip(
            *(stored.column(c).to_pylist() for c in ("size_bytes", "language", "path")), strict=True
        ):
            shape[(size, lang, name(path))] += 2
    return [t for t in whole if shape[(t.size, t.language, name(t.path))] > 1], stored


def _reparsed(plan: ReusePlan, kept: list[FileTask], tasks: int) -> set[int]:
    """Take out of ``plan`` the small followers of this run's leaders, to be parsed instead (see
    REPARSE_BYTES), when they are few next to the run's tasks; returns the ids of the tasks to
    extract (``kept`` and those), or an empty set when nothing changes."""
    small = [f for f in plan.followers if not f.stored and f.task.size <= REPARSE_BYTES]
    if not small or len(small) > tasks * REPARSE_SHARE:
        return set()
    gone = {id(f) for f in small}
    plan.followers = [f for f in plan.followers if id(f) not in gone]
    return {id(t) for t in kept} | {id(f.task) for f in small}


def _stored_files(
    store: Store, previous: Snapshot | None, work: WorkPlan, extractors: list[FileExtractor]
) -> pa.Table | None:
    """The stored files rows that may serve as sources: of repos extracted by exactly this selection
    (same extractors, same versions), minus every file this run replaces."""
    if previous is None or "files" not in previous.tables:
        return None
    selected = {ex.name: effective_version(ex) for ex in extractors}
    repos = [r for r, state in work.state.items() if state == selected]
    if not repos:
        return None
    columns = ["repo", "path", "sha256", "language", "size_bytes"]
    version = previous.tables["files"].version
    files = _files_read(work, version, columns, repos)
    if files is None:
        files = read_columns(store, "files", version, columns, repos)
    if files is None or not files.num_rows:
        return None
    gone = _replaced(work)
    if gone:
        keep = [
            (r, p) not in gone and r not in gone
            for r, p in zip(files.column("repo").to_pylist(), files.column("path").to_pylist(), strict=True)
        ]
        files = files.filter(pa.array(keep, pa.bool_()))
    return files if files.num_rows else None


def _files_read(work: WorkPlan, version: int, columns: list[str], repos: list[str]) -> pa.Table | None:
    """The files rows of ``repos`` at ``version`` from those the plan read (``WorkPlan.files_read``),
    or None when it read none, another version or not every one of ``repos``."""
    if work.files_read is None:
        return None
    at, read, files = work.files_read
    if at != version or not set(repos) <= read or not set(columns) <= set(files.column_names):
        return None
    if set(repos) != read:
        files = files.filter(pc.is_in(files.column("repo"), value_set=pa.array(repos, pa.string())))
    return files.select(columns)


def _stored_sources(
    store: Store,
    previous: Snapshot | None,
    files: pa.Table | None,
    shas: set[str],
    name: Callable[[str], str],
) -> dict[ReuseKey, Key]:
    """Reuse key -> a stored (repo, path) with that content (one of ``files``)."""
    if previous is None or files is None or not shas:
        return {}
    files = files.filter(pc.is_in(files.column("sha256"), value_set=pa.array(sorted(shas), pa.string())))
    if not files.num_rows:
        return {}
    modules: dict[Key, tuple[str | None, bool]] = {}
    if "modules" in previous.tables and "python" in set(files.column("language").to_pylist()):
        repos = sorted(set(files.column("repo").to_pylist()))
        mods = read_columns(
            store,
            "modules",
            previous.tables["modules"].version,
            ["repo", "path", "module", "is_package"],
            repos,
        )
        if mods is not None:
            for r, p, m, pkg in zip(*(mods.column(i).to_pylist() for i in range(4)), strict=True):
                modules[(r, p)] = (m, bool(pkg))
    out: dict[ReuseKey, Key] = {}
    cols = (files.column(c).to_pylist() for c in ("repo", "path", "sha256", "language"))
    for r, p, sha, lang in zip(*cols, strict=True):
        mod, pkg = modules.get((r, p), (None, False))
        out.setdefault((sha, lang, mod, pkg, name(p)), (r, p))
    return out


def _replaced(work: WorkPlan) -> set[object]:
    """Every (repo, path) and every whole repo whose stored rows this run drops somewhere."""
    out: set[object] = set()
    for rep in work.replace.values():
        out |= rep.repos
        for repo, paths in rep.keys.items():
            out.update((repo, p) for p in paths)
        out.update(repo for repo, names in rep.extractors.items() if names)
    return out


def copy_rows(
    store: Store,
    previous: Snapshot | None,
    plan: ReusePlan,
    tables: Iterable[str],
    staged: dict[str, list[Part]],
    run_id: str,
    add: Callable[[Part], None],
    clock: WriteClock | None = None,
) -> list[FileTask]:
    """Write every follower's rows, copied from its source, as new parts of the run (handed to ``add``).
    Returns the followers that must be extracted after all: their leader's content changed under it.
    ``clock`` adds up the time the parts' write took (Parquet encoding and the files)."""
    if not plan:
        return []
    clock = clock if clock is not None else WriteClock()
    tables_dir = str(store.tables_dir)

    def write(table: str, rows: pa.RecordBatch | pa.Table, keys: frozenset[Key] | None = None) -> None:
        with clock:
            part = write_part(tables_dir, run_id, table, rows, keys)
        clock.rows += rows.num_rows
        add(part)

    if plan.manifest is not None:
        rows = plan.manifest
        for start in range(0, rows.num_rows, PART_ROWS):
            write("files", rows.slice(start, PART_ROWS))
    run_sources = {f.source for f in plan.followers if not f.stored}
    stored_sources = {f.source for f in plan.followers if f.stored}
    every = sorted(run_sources | stored_sources)
    manifest = _source_parts(store, previous, "files", run_sources, stored_sources, staged)
    files = _read_sources(store, "files", manifest, every, run_sources, stored_sources)
    found: dict[Key, str] = {}
    if files is not None:
        cols = (files.column(c).to_pylist() for c in ("repo", "path", "sha256"))
        found = {(r, p): sha for r, p, sha in zip(*cols, strict=True)}
    redo = [
        f.task
        for f in plan.followers
        if not f.stored and found.get(f.source, plan.expected.get(f.source)) != plan.expected.get(f.source)
    ]
    bad = {id(t) for t in redo}
    followers = [f for f in plan.followers if id(f.task) not in bad]
    followers.sort(key=lambda f: (f.task.repo, f.task.path))
    size = {f.source: f.task.size for f in followers}  # a source's content is its followers'
    batches = _batches(_by_part(sorted(size), run_sources, staged.get("files", [])), size)
    # what every table's copy needs of the followers, made once (not once a table): each one's
    # source as a number, its batch, and its provenance as Arrow arrays
    number = {f"{r}\x00{p}": i for i, (r, p) in enumerate(s for b in batches for s in b)}
    of_batch = np.repeat(np.arange(len(batches)), [len(b) for b in batches])
    src = np.fromiter(
        (number[f"{f.source[0]}\x00{f.source[1]}"] for f in followers), np.int64, len(followers)
    )
    pairs = [(sys.intern(f.task.repo), f.task.path) for f in followers]
    repos = sorted({r for r, _ in pairs})
    code = {r: i for i, r in enumerate(repos)}
    prov = _Provenance(
        pa.array([f.task.repo for f in followers], pa.string()),
        pa.array([f.task.path for f in followers], pa.string()),
        pa.array([f.task.mtime_ns for f in followers], pa.int64()),
        np.fromiter((f.task.path == f.source[1] for f in followers), np.bool_, len(followers)),
        # each follower's (repo, path), one tuple shared by its keys in every table's parts (the
        # parts' keys are known from the followers: no group-by of each part's rows to find them)
        pairs,
        repos,
        np.fromiter((code[r] for r, _ in pairs), np.int64, len(pairs)),
        [p for _, p in pairs],
    )
    members = [np.flatnonzero(of_batch[src] == b) for b in range(len(batches))]
    for table in sorted(tables):
        parts = _source_parts(store, previous, table, run_sources, stored_sources, staged)
        for b, batch in enumerate(batches):  # a batch of sources at a time: never a whole table held
            wanted = set(batch)
            if table == "files":
                rows = None if files is None else _keep(files, wanted)
            else:
                rows = _read_sources(
                    store, table, parts, batch, run_sources & wanted, stored_sources & wanted
                )
            if rows is None or not rows.num_rows:
                continue
            for part, keys in _copies(rows, members[b], src, number, prov, table == "files"):
                write(table, part, keys)
            del rows
            pa.default_memory_pool().release_unused()  # the batch's buffers, back to the system
    return redo


@dataclass
class WriteClock:
    """Wall and CPU seconds (of the whole process: the parent's other threads are idle meanwhile) of
    the copied rows' write, and the rows written: the cost the pay-once target allows on top of one
    copy's (bench/reuse.py)."""

    wall: float = 0.0
    cpu: float = 0.0
    rows: int = 0
    _started: tuple[float, float] = (0.0, 0.0)

    def __enter__(self) -> None:
        self._started = (time.perf_counter(), time.process_time())

    def __exit__(self, *_exc: object) -> None:
        self.wall += time.perf_counter() - self._started[0]
        self.cpu += time.process_time() - self._started[1]


def _by_part(sources: list[Key], run: set[Key], files: list[Part]) -> list[Key]:
    """``sources`` (sorted), this run's own (``run``) first, in the order of the ``files`` part
    that holds each (a worker's chunk: its parts of every table hold the same files), so that a
    batch of them reads few of the run's parts (a chunk's paths span the repo: their ranges do not
    tell)."""
    home: dict[Key, int] = {}
    for i, part in enumerate(files):
        for key in part.keys or ():
            home.setdefault(key, i)
    last = len(files)
    return sorted(sources, key=lambda k: (k not in run, home.get(k, last)))


def _batches(sources: list[Key], size: dict[Key, int]) -> list[list[Key]]:
    """``sources`` in order, cut into batches of at most SOURCE_BATCH sources and SOURCE_BYTES of
    content (a source bigger than that alone; a file over --max-file-size counts as little: its rows
    are its files and errors rows only, but it is counted up to the bound, never more)."""
    out: list[list[Key]] = []
    batch: list[Key] = []
    held = 0
    for source in sources:
        n = min(size.get(source, 0), SOURCE_BYTES)
        if batch and (len(batch) >= SOURCE_BATCH or held + n > SOURCE_BYTES):
            out.append(batch)
            batch, held = [], 0
        batch.append(source)
        held += n
    if batch:
        out.append(batch)
    return out


Ranged = tuple[str, str | None, str | None, str | None, str | None]  # file, repo and path min/max


@dataclass(frozen=True)
class _Parts:
    """The Parquet files that may hold sources' rows of one table, each with its (repo, path) ranges
    (None: unknown): this run's parts (for the run's leaders) and the last snapshot's (for stored
    sources); the table's schema (None: read from the first file)."""

    run: list[tuple[Ranged, frozenset[Key] | None]]  # with the keys its writer found (None: unknown)
    stored: list[Ranged]
    schema: pa.Schema | None


def _source_parts(
    store: Store,
    previous: Snapshot | None,
    table: str,
    run_sources: set[Key],
    stored_sources: set[Key],
    staged: dict[str, list[Part]],
) -> _Parts:
    """This run's parts of ``table`` and the last snapshot's, with their ranges (read once a table)."""
    folder = os.path.join(store.tables_dir, table)
    run: list[tuple[Ranged, frozenset[Key] | None]] = []
    if run_sources:
        for part in staged.get(table, []):
            stats = json.loads(part.stats)
            lo, hi = stats["minValues"], stats["maxValues"]
            path = os.path.join(folder, part.file)
            run.append(((path, lo.get("repo"), hi.get("repo"), lo.get("path"), hi.get("path")), part.keys))
    schema = None
    stored: list[Ranged] = []
    if stored_sources and previous is not None and table in previous.tables:
        delta = store.open_delta(table, previous.tables[table].version)
        if files_outside(delta):  # damage (or an attack): never read through it; copy nothing
            raise damaged(store, table, "its Delta log names a file outside the table")
        schema = pa.schema(delta.schema().to_arrow())
        actions = pa.table(delta.get_add_actions(flatten=True)).to_pydict()
        n = len(actions["path"])
        cols = [actions.get(c, [None] * n) for c in ("min.repo", "max.repo", "min.path", "max.path")]
        for rel, lo_r, hi_r, lo_p, hi_p in zip(actions["path"], *cols, strict=True):
            stored.append((os.path.join(folder, unquote(rel)), lo_r, hi_r, lo_p, hi_p))
    return _Parts(run, stored, schema)


def _read_sources(
    store: Store, table: str, parts: _Parts, batch: list[Key], run: set[Key], stored: set[Key]
) -> pa.Table | None:
    """:func:`_source_rows`, a part that cannot be read (or fails its page checksums) being damage."""
    with unreadable_part(store, table, "a part it copies rows from"):
        return _source_rows(parts, batch, run, stored)


def _source_rows(parts: _Parts, batch: list[Key], run: set[Key], stored: set[Key]) -> pa.Table | None:
    """The rows of the sources of ``batch`` (``run`` and ``stored`` split it), each from its own
    parts: this run's that hold it (by their writers' keys, else by their ranges), the stored ones
    whose ranges may hold it; read with the (repo, path) filter pushed down (row groups without a
    source are skipped)."""
    known = [path for (path, *_), keys in parts.run if keys is not None and not keys.isdisjoint(run)]
    ranged = _may_hold([r for r, keys in parts.run if keys is None], sorted(run))
    pieces = []
    for chosen, keys in ((known + ranged, run), (_may_hold(parts.stored, sorted(stored)), stored)):
        got = _scan(chosen, keys, parts.schema) if chosen and keys else None
        if got is not None:
            pieces.append(got)
    if not pieces:
        return None
    return pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces, promote_options="permissive")


def _may_hold(files: list[Ranged], keys: list[Key]) -> list[str]:
    """The files whose ranges may hold one of ``keys``: repo range, and for a part of one repo the
    range of the paths wanted in that repo."""
    if not keys:
        return []
    spans: dict[str, tuple[str, str]] = {}
    for repo, path in keys:
        lo, hi = spans.get(repo, (path, path))
        spans[repo] = (min(lo, path), max(hi, path))
    repos = sorted(spans)
    out = []
    for path, lo_r, hi_r, lo_p, hi_p in files:
        if lo_r is not None and hi_r is not None and not any(lo_r <= r <= hi_r for r in repos):
            continue
        span = spans.get(lo_r) if lo_r is not None and lo_r == hi_r else None
        if span is not None and lo_p is not None and hi_p is not None and (hi_p < span[0] or lo_p > span[1]):
            continue  # one repo's part whose paths miss those wanted there
        out.append(path)
    return out


def _scan(files: list[str], keys: set[Key], schema: pa.Schema | None) -> pa.Table | None:
    """The rows of ``files`` whose (repo, path) is one of ``keys``."""
    import pyarrow.dataset as ds

    if schema is None:
        schema = pq.read_schema(files[0])
    repos = pa.array(sorted({r for r, _ in keys}), pa.string())
    paths = pa.array(sorted({p for _, p in keys}), pa.string())
    wanted = ds.field("repo").isin(repos) & ds.field("path").isin(paths)
    checked = ds.ParquetFileFormat(
        default_fragment_scan_options=ds.ParquetFragmentScanOptions(page_checksum_verification=True)
    )  # a damaged part is an error here, never copied into new well-formed parts (parts.WRITE_OPTIONS)
    # one row group at a time, filtered as it is read (opread.read): the dataset scanner reads
    # several parts ahead, which held ~80 MB more of a 3-stdlib corpus's `calls` in the parent
    data = opread.read(ds.dataset(files, format=checked, schema=schema), None, wanted)
    data = _keep(data, keys)
    return data if data.num_rows else None


def _keep(data: pa.Table, keys: set[Key]) -> pa.Table:
    """The rows of ``data`` whose (repo, path) is one of ``keys``."""
    if not data.num_rows:
        return data
    repos = pa.array(sorted({r for r, _ in keys}), pa.string())
    paths = pa.array(sorted({p for _, p in keys}), pa.string())
    data = data.filter(
        pc.and_(
            pc.is_in(data.column("repo"), value_set=repos), pc.is_in(data.column("path"), value_set=paths)
        )
    )
    if not data.num_rows or len(repos) == 1 or len(paths) == 1:
        return data
    joined = pc.binary_join_element_wise(data.column("repo"), data.column("path"), "\x00")
    wanted = pa.array(sorted(f"{r}\x00{p}" for r, p in keys), pa.string())
    return data.filter(pc.is_in(joined, value_set=wanted))


@dataclass(frozen=True)
class _Provenance:
    """The followers' own repo, path and mtime (in their sorted order), and whether each one's path
    is its source's (then the source rows' ``path`` column is already the follower's)."""

    repo: pa.Array
    path: pa.Array
    mtime_ns: pa.Array
    same_path: np.ndarray
    keys: list[Key]
    repos: list[str]  # the followers' repos, sorted
    repo_code: np.ndarray  # each follower's repo, as its index in ``repos`` (ascending)
    paths: list[str]  # each follower's path

    def keys_of(self, group: np.ndarray) -> RepoKeys:
        """The keys of the followers ``group`` (ascending indices), with their paths by repo."""
        at = group.tolist()
        codes = self.repo_code[group]
        cuts = [0, *(np.flatnonzero(codes[1:] != codes[:-1]) + 1).tolist(), len(at)]
        runs = tuple(
            (self.repos[int(codes[a])], list(map(self.paths.__getitem__, at[a:b])))
            for a, b in zip(cuts[:-1], cuts[1:], strict=True)
        )
        return RepoKeys(map(self.keys.__getitem__, at), runs)


def _copies(
    rows: pa.Table,
    chosen: np.ndarray,
    src: np.ndarray,
    number: dict[str, int],
    prov: _Provenance,
    is_files: bool,
) -> Iterable[tuple[pa.Table, frozenset[Key]]]:
    """Tables of the rows of the followers ``chosen`` (indices into ``src``, the followers' sources
    by number, and ``prov``): each follower takes its source's rows in their order, with its own repo
    and path (and mtime in ``files``). The sources' rows are put in (repo, path) order once (a stable
    sort, one contiguous copy of the batch's rows, whatever the copies), so that a follower's rows
    are one range of them, and followers in the order of their sources (a copy of a whole repo) take
    long ranges: slices of the sorted rows, not a gather of each row. Each with its (repo, path)
    keys: those of its followers (each has rows there)."""
    order = pc.sort_indices(rows, sort_keys=[("repo", "ascending"), ("path", "ascending")])
    joined = pc.binary_join_element_wise(rows.column("repo"), rows.column("path"), "\x00")
    codes = pc.dictionary_encode(joined).combine_chunks()
    del joined
    held = np.array([number[k] for k in codes.dictionary.to_pylist()], np.int64)  # code -> source
    order_np = order.to_numpy(zero_copy_only=False)
    in_order = codes.indices.to_numpy(zero_copy_only=False)[order_np]  # each row's code, in order
    del codes
    rows = rows.take(order)  # contiguous and in order: a range of rows is a zero-copy slice
    del order, order_np
    begins = np.flatnonzero(np.concatenate(([True], in_order[1:] != in_order[:-1])))
    counts = np.zeros(len(number), np.int64)  # source -> its rows here (0: none in this table)
    starts = np.zeros(len(number), np.int64)  # source -> its first row in (repo, path) order
    counts[held[in_order[begins]]] = np.diff(np.concatenate((begins, [len(in_order)])))
    starts[held[in_order[begins]]] = begins
    del in_order
    chosen = chosen[counts[src[chosen]] > 0]
    per = counts[src[chosen]]
    first = starts[src[chosen]]
    ends = np.cumsum(per)
    limit = max(1, min(PART_ROWS, PART_BYTES * rows.num_rows // max(1, rows.nbytes)))
    begin = 0
    while begin < len(chosen):  # groups of followers whose rows fit one part
        done = int(ends[begin - 1]) if begin else 0
        fits = int(np.searchsorted(ends[begin:], done + limit, side="right"))
        end = min(len(chosen), begin + max(1, fits))
        group = chosen[begin:end]
        yield _gather(rows, group, first[begin:end], per[begin:end], prov, is_files), prov.keys_of(group)
        begin = end


#: a group of followers whose rows are at most this many ranges of the sorted sources' rows per
#: row is cut into slices of them (zero-copy); more ranges (scattered sources) are gathered row by row
SLICES_PER_ROW = 1 / 64


def _gather(
    rows: pa.Table,
    group: np.ndarray,
    first: np.ndarray,
    per: np.ndarray,
    prov: _Provenance,
    is_files: bool,
) -> pa.Table:
    """The rows of one group of followers (indices into ``prov``): their sources' ranges of the
    sorted ``rows``, with the followers' provenance. Ranges that follow each other in ``rows`` are
    taken as one slice."""
    total = int(per.sum())
    owner = pa.array(np.repeat(group, per))
    joins = np.flatnonzero(first[1:] != first[:-1] + per[:-1]) + 1  # where a range does not go on
    if len(joins) + 1 <= max(1, total * SLICES_PER_ROW):
        cuts = np.concatenate(([0], joins, [len(group)]))
        lengths = np.add.reduceat(per, cuts[:-1])
        out = pa.concat_tables(
            [rows.slice(int(first[a]), int(n)) for a, n in zip(cuts[:-1], lengths, strict=True)]
        )
    else:
        at = np.repeat(first, per) + (np.arange(total) - np.repeat(np.cumsum(per) - per, per))
        out = rows.take(pa.array(at))
    fields = {"repo": prov.repo.take(owner)}
    if not prov.same_path[group].all():
        fields["path"] = prov.path.take(owner)
    if is_files:
        mtime_type = out.schema.field("mtime_ns").type
        fields["mtime_ns"] = prov.mtime_ns.take(owner).cast(mtime_type)
    for name, values in fields.items():
        i = out.schema.get_field_index(name)
        out = out.set_column(i, out.schema.field(name), values)
    return out
