"""What a run must redo, given the last snapshot: the worklist and the rows each table must drop.

Every row is keyed by its file (repo, path) and by the extractor that made it, so a run needs only:

- files whose size or mtime changed, new files and deleted files: every table drops their rows, and
  the new and changed ones are extracted again by every selected extractor;
- an extractor that is new to a repo or whose version changed: its tables drop the repo's rows and
  it alone runs again on every file of the repo (on a table that extractors of other languages share,
  only the rows of its own languages' files go: a new JavaScript query pack re-runs JavaScript only);
- an extractor no longer selected (left out by --select/--skip, or its plugin removed): the tables it
  wrote drop the repo's rows. Which tables each extractor wrote is recorded per repo in the snapshot
  (``run["outputs"]``), so a dropped extractor takes exactly its own rows, even when its declaration
  is gone; tables written by operations are never touched here (see operations.py).

Hashes of unchanged files are reused (they are not read). A file whose module name changed because a
package was added or removed around it counts as changed, since its rows carry the module name.

A file whose size is the same but whose mtime moved (``touch``, a ``git checkout`` that rewrote the
same bytes) is hashed by the parent: if its sha256 is the stored one it is *touched*, not changed.
Nothing is extracted for it; only its ``files`` row is rewritten with the new mtime (the table must
equal a fresh extract), so that the next run finds size and mtime equal and neither hashes nor
writes it again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa

from codequarry.api import FileExtractor, effective_version
from codequarry.corpus_io import RACY_NS, hash_file
from codequarry.engine.worker import FileTask
from codequarry.parts import Replacement
from codequarry.store import Snapshot, Store
from codequarry.store.store import read_columns

Key = tuple[str, str]  # (repo, path)
MANIFEST = "core.files"  # the extractor that writes the files table (size, mtime, sha256)


@dataclass
class WorkPlan:
    tasks: list[FileTask]
    replace: dict[str, Replacement]  # table -> rows to drop
    state: dict[str, dict[str, int]]  # repo -> {extractor: version} after this run, for every repo
    outputs: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # repo -> {extractor: tables}
    changed: int = 0
    added: int = 0
    deleted: int = 0
    unchanged: int = 0
    touched: int = 0  # unchanged files whose mtime moved: hashed, not extracted
    rerun: dict[str, list[str]] = field(default_factory=dict)  # repo -> extractors re-run on every file
    dropped: dict[str, list[str]] = field(default_factory=dict)  # repo -> extractors no longer selected
    #: the last snapshot's ``files`` rows of the run's repos as the plan read them: (version, the
    #: repos read, the rows' FILES_READ columns), for the reuse plan (reuse.py) not to read them
    #: again; None when not read so
    files_read: tuple[int, frozenset[str], pa.Table] | None = field(default=None, repr=False, compare=False)

    @property
    def is_noop(self) -> bool:
        return not self.tasks and not any(self.replace.values())


def _read(store: Store, snap: Snapshot, table: str, columns: list[str], repos: list[str]) -> pa.Table | None:
    state = snap.tables.get(table)
    if state is None:
        return None
    need = columns if "repo" in columns else [*columns, "repo"]
    from codequarry import partcache

    if partcache.enabled():  # quarry watch: the parts of the last batches are in memory
        whole = partcache.table_at(store, table, state.version)
        if not set(need) <= set(whole.column_names):
            return None
        import pyarrow.compute as pc

        mask = pc.is_in(whole.column("repo"), value_set=pa.array(repos, pa.string()))
        return whole.select(columns).filter(mask)
    data = read_columns(store, table, state.version, need, repos)
    return None if data is None else data.select(columns)


def previous_state(snap: Snapshot | None) -> dict[str, dict[str, int]]:
    if snap is None:
        return {}
    repos: dict[str, Any] = snap.run.get("state", {}) if isinstance(snap.run, dict) else {}
    return {r: {k: int(v) for k, v in m.items()} for r, m in repos.items()}


def previous_outputs(snap: Snapshot | None) -> dict[str, dict[str, list[str]]]:
    """repo -> {extractor: tables it wrote}, as recorded by the last run (empty for older stores)."""
    if snap is None or not isinstance(snap.run.get("outputs"), dict):
        return {}
    return {
        r: {k: [str(t) for t in v] for k, v in m.items()}
        for r, m in snap.run["outputs"].items()
        if isinstance(m, dict)
    }


def _operation_tables(snap: Snapshot | None) -> set[str]:
    """Tables written by operations in the last snapshot (never dropped per repo)."""
    ops = snap.run.get("operations", {}) if snap is not None else {}
    out: set[str] = set()
    for info in ops.values() if isinstance(ops, dict) else ():
        if isinstance(info, dict):
            out |= set(info.get("outputs", {}))
    return out


@dataclass
class _Scan:
    """What plan_work compares: the selection, the last snapshot's records and this scan's files."""

    snap: Snapshot | None
    extractors: list[FileExtractor]
    forced: set[str]
    known: Mapping[str, FileExtractor]
    selected: dict[str, int]  # extractor -> the version it runs at
    outputs: dict[str, tuple[str, ...]]  # extractor -> the tables it writes
    languages: dict[str, tuple[str, ...] | None]  # extractor -> its languages (None: every file)
    producers: dict[str, list[str]]  # table -> the selected extractors writing it
    all_tables: set[str]  # every table a selected extractor writes, and errors
    op_tables: set[str]  # the tables operations wrote (never dropped here)
    prev_state: dict[str, dict[str, int]]
    prev_outputs: dict[str, dict[str, list[str]]]
    prev_files: dict[Key, tuple[int, int, str | None, str | None]]
    prev_modules: dict[Key, tuple[str | None, bool]]
    files_read: tuple[int, frozenset[str], pa.Table] | None
    by_repo: dict[str, list[FileTask]]
    same: set[int]  # keys of touched files whose content hashes to the stored sha256
    racy: set[int] = field(default_factory=set)  # keys of racy files whose content changed (_racy)


def plan_work(
    store: Store,
    snap: Snapshot | None,
    tasks: list[FileTask],
    repos: list[str],
    extractors: list[FileExtractor],
    forced: set[str] = frozenset(),  # type: ignore[assignment]
    known: Mapping[str, FileExtractor] | None = None,
    scoped: set[str] = frozenset(),  # type: ignore[assignment]
) -> WorkPlan:
    """Compare the scan with the last snapshot and decide what to extract and what to drop.

    A ``scoped`` repo was given as one of its files: ``tasks`` hold that file alone, no other file of
    the repo is deleted, and the repo keeps its recorded extractor state (a selection change reaches
    the repo's other files at its next whole run)."""
    scan = _scan(store, snap, tasks, repos, extractors, forced, known or {})
    work = WorkPlan(
        tasks=[],
        replace=defaultdict(Replacement),
        state={r: m for r, m in scan.prev_state.items() if r not in repos},
    )
    work.outputs = {r: m for r, m in scan.prev_outputs.items() if r not in repos and r in work.state}
    work.files_read = scan.files_read
    for repo in repos:
        if repo in scoped and repo in scan.prev_state:
            work.state[repo] = scan.prev_state[repo]
            work.outputs[repo] = scan.prev_outputs.get(
                repo, {n: sorted(scan.outputs[n]) for n in scan.selected}
            )
            _scoped_file(work, scan.by_repo.get(repo, []), scan.prev_files, scan.all_tables)
        else:
            _plan_repo(scan, work, repo)
    # tables of unselected extractors that still hold rows of other repos stay as they are
    for table in list(work.replace):
        if not work.replace[table]:
            del work.replace[table]
    return work


def _scan(
    store: Store,
    snap: Snapshot | None,
    tasks: list[FileTask],
    repos: list[str],
    extractors: list[FileExtractor],
    forced: set[str],
    known: Mapping[str, FileExtractor],
) -> _Scan:
    """Gather the selection and what the last snapshot recorded for ``repos``."""
    selected = {ex.name: effective_version(ex) for ex in extractors}
    outputs = {ex.name: ex.output_names for ex in extractors}
    producers: dict[str, list[str]] = defaultdict(list)
    for ex in extractors:
        for table in ex.output_names:
            producers[table].append(ex.name)
    prev_state = previous_state(snap)
    # a table emptied for a schema change lost the rows of repos outside this run too: forget that
    # they ran its producer, so that their next run runs it again
    for other, names in prev_state.items():
        if other not in repos:
            for name in forced:
                names.pop(name, None)
    prev_files, prev_modules, files_read = _previous_files(store, snap, repos)
    by_repo: dict[str, list[FileTask]] = defaultdict(list)
    for t in tasks:
        by_repo[t.repo].append(t)
    return _Scan(
        snap=snap,
        extractors=extractors,
        forced=forced,
        known=known,
        selected=selected,
        outputs=outputs,
        languages={ex.name: ex.languages for ex in extractors},
        producers=producers,
        all_tables={name for outs in outputs.values() for name in outs} | {"errors"},
        op_tables=_operation_tables(snap),
        prev_state=prev_state,
        prev_outputs=previous_outputs(snap),
        prev_files=prev_files,
        prev_modules=prev_modules,
        files_read=files_read,
        by_repo=by_repo,
        same=_same_content(tasks, prev_files) if MANIFEST in selected else set(),
        racy=_racy(tasks, prev_files, snap),
    )


#: the columns of the last snapshot's ``files`` rows the plan reads (``WorkPlan.files_read``)
FILES_READ = ["repo", "path", "size_bytes", "mtime_ns", "sha256", "language"]


def _previous_files(
    store: Store, snap: Snapshot | None, repos: list[str]
) -> tuple[
    dict[Key, tuple[int, int, str | None, str | None]],
    dict[Key, tuple[str | None, bool]],
    tuple[int, frozenset[str], pa.Table] | None,
]:
    """The last snapshot's files rows (size, mtime, sha256, language) and modules rows of ``repos``,
    and the files rows as read (with their version; None when kept per part instead)."""
    prev_files: dict[Key, tuple[int, int, str | None, str | None]] = {}
    prev_modules: dict[Key, tuple[str | None, bool]] = {}
    if snap is None:
        return prev_files, prev_modules, None
    from codequarry import partcache

    if partcache.enabled():  # quarry watch: each part's rows made into a dict once
        files_cols = ["size_bytes", "mtime_ns", "sha256", "language"]
        got = _indexed(store, snap, "files", files_cols, repos)
        if got is not None:
            prev_files = got
        mods = _indexed(store, snap, "modules", ["module", "is_package"], repos)
        if mods is not None:
            prev_modules = mods
        return prev_files, prev_modules, None
    files = _read(store, snap, "files", FILES_READ, repos)
    if files is not None:
        for r, p, s, m, h, lang in zip(*(files.column(i).to_pylist() for i in range(6)), strict=True):
            prev_files[(r, p)] = (s, m, h, lang)
    mods = _read(store, snap, "modules", ["repo", "path", "module", "is_package"], repos)
    if mods is not None:
        for r, p, mod, pkg in zip(*(mods.column(i).to_pylist() for i in range(4)), strict=True):
            prev_modules[(r, p)] = (mod, pkg)
    read = (snap.tables["files"].version, frozenset(repos), files) if files is not None else None
    return prev_files, prev_modules, read


def _indexed(
    store: Store, snap: Snapshot, table: str, columns: list[str], repos: list[str]
) -> dict[Key, Any] | None:
    """(repo, path) -> the tuple of ``columns`` of each row of ``table`` (of ``repos``), merged from
    dicts kept per Parquet part (partcache.per_part); None when the table or a column is missing."""
    state = snap.tables.get(table)
    if state is None:
        return None
    from codequarry import partcache

    def index(data: pa.Table) -> dict[Key, Any] | None:
        if not {"repo", "path", *columns} <= set(data.column_names):
            return None
        cols = [data.column(c).to_pylist() for c in ["repo", "path", *columns]]
        return {(r, p): tuple(rest) for r, p, *rest in zip(*cols, strict=True)}

    out: dict[Key, Any] = {}
    wanted = set(repos)
    for part in partcache.per_part(store, table, state.version, f"index:{','.join(columns)}", index):
        if part is None:
            return None
        if all(r in wanted for r, _ in part):
            out.update(part)
        else:
            out.update((k, v) for k, v in part.items() if k[0] in wanted)
    return out


def _plan_repo(scan: _Scan, work: WorkPlan, repo: str) -> None:
    """One whole repo: extractors re-run or dropped, then each file added, changed, touched or gone."""
    old = scan.prev_state.get(repo, {})
    rerun = sorted(n for n, v in scan.selected.items() if old.get(n) != v or n in scan.forced)
    dropped = sorted(n for n in old if n not in scan.selected)
    if rerun:
        work.rerun[repo] = rerun
    if dropped:
        work.dropped[repo] = dropped
    work.state[repo] = dict(scan.selected)
    work.outputs[repo] = {n: sorted(scan.outputs[n]) for n in scan.selected}
    _replace_rerun(scan, work.replace, repo, rerun)
    _replace_dropped(scan, work.replace, repo, dropped)
    if rerun:
        work.replace["errors"].extractors[repo].update(rerun)
    _plan_files(scan, work, repo, rerun)


def _replace_rerun(scan: _Scan, replace_: dict[str, Replacement], repo: str, rerun: list[str]) -> None:
    """The rows an extractor run again replaces: the repo's, or its languages' files' in a shared table."""
    for name in rerun:
        langs = scan.languages[name]
        for table in scan.outputs[name]:
            if langs is not None and len(scan.producers[table]) > 1:
                # a table shared by extractors of other languages: drop this language's files only
                replace_[table].keys[repo].update(
                    t.path for t in scan.by_repo.get(repo, ()) if t.language in langs
                )
            else:
                replace_[table].repos.add(repo)


def _replace_dropped(scan: _Scan, replace_: dict[str, Replacement], repo: str, dropped: list[str]) -> None:
    """The rows an extractor no longer selected leaves behind: exactly the tables it wrote."""
    recorded = scan.prev_outputs.get(repo, {})
    snap = scan.snap
    for name in dropped:
        replace_["errors"].extractors[repo].add(name)
        gone = scan.known.get(name)
        if gone is not None and gone.languages is not None:
            # its share of a table other languages' extractors still write: its files' rows go
            for table in gone.output_names:
                if table in scan.all_tables:
                    replace_[table].keys[repo].update(
                        t.path for t in scan.by_repo.get(repo, ()) if t.language in gone.languages
                    )
        if name in recorded:  # exactly the tables it wrote: every row of this repo in them goes
            mine = set(recorded[name])
        else:  # a store written before outputs were recorded: every table no one else makes
            mine = {t for t in (snap.tables if snap else {}) if t not in scan.op_tables}
        for table in mine:
            if table not in scan.all_tables and snap is not None and table in snap.tables:
                replace_[table].repos.add(repo)


def _plan_files(scan: _Scan, work: WorkPlan, repo: str, rerun: list[str]) -> None:
    """Each file of the repo: new or changed ones are extracted; unchanged ones only by ``rerun``
    (and a touched one's files row rewritten); deleted ones lose their rows everywhere."""
    seen: set[str] = set()
    whole = set(rerun)
    replace_ = work.replace
    for t in scan.by_repo.get(repo, []):
        seen.add(t.path)
        prev = scan.prev_files.get((repo, t.path))
        if prev is None:
            work.added += 1
        elif (
            prev[0] != t.size
            or prev[3] != t.language
            or _module_moved(scan, t)
            or (prev[1] != t.mtime_ns and t.key not in scan.same)
            or t.key in scan.racy
        ):
            work.changed += 1
        else:
            work.unchanged += 1
            only = tuple(n for n in rerun if _applies(scan.extractors, n, t.language))
            if prev[1] != t.mtime_ns:
                work.touched += 1
                if MANIFEST not in whole:  # only the files row changes: its mtime
                    only += (MANIFEST,)
                    replace_["files"].keys[repo].add(t.path)
            if only:
                missing = _parse_errors_missing(scan.extractors, whole, t.language)
                work.tasks.append(replace(t, only=only, file_errors=missing))
            continue
        if scan.snap is not None:  # (a first run has no rows to drop: no key per file and table)
            for table in scan.all_tables:
                replace_[table].keys[repo].add(t.path)
        work.tasks.append(t)
    for r, p in scan.prev_files:
        if r == repo and p not in seen:
            work.deleted += 1
            for table in scan.all_tables:
                replace_[table].keys[repo].add(p)


def _module_moved(scan: _Scan, t: FileTask) -> bool:
    """A Python file whose module name changed (a package added or removed around it)."""
    key = (t.repo, t.path)
    return (
        t.language == "python"
        and key in scan.prev_modules
        and scan.prev_modules[key] != (t.module, t.is_package)
    )


def _scoped_file(work: WorkPlan, tasks: list[FileTask], prev_files: dict[Key, Any], tables: set[str]) -> None:
    """A file given alone: extracted again (whatever its mtime) and its rows replaced in every table."""
    for t in tasks:
        prev = prev_files.get((t.repo, t.path))
        if prev is not None and prev[0] == t.size and prev[1] == t.mtime_ns:
            work.unchanged += 1
            continue
        if prev is not None:
            work.changed += 1
        else:
            work.added += 1
        for table in tables:
            work.replace[table].keys[t.repo].add(t.path)
        work.tasks.append(t)


def _racy(
    tasks: list[FileTask], prev: dict[Key, tuple[int, int, str | None, str | None]], snap: Snapshot | None
) -> set[int]:
    """Keys of the files whose size and mtime are the stored ones but whose bytes are not.

    A file modified less than ``RACY_NS`` before the scan of the run that stored the live snapshot
    could have been written again within the same mtime tick after that run read it (git's "racy
    clean" entries): such a file is hashed, not trusted on its mtime. Older files cannot be."""
    if snap is None:
        return set()
    scanned = snap.run.get("scan_ns")
    since = (scanned if isinstance(scanned, int) else int(snap.created * 1e9)) - RACY_NS
    todo = [
        (t, p[2])
        for t in tasks
        if (p := prev.get((t.repo, t.path))) is not None
        and p[0] == t.size
        and p[1] == t.mtime_ns
        and t.mtime_ns >= since
        and p[2]
    ]
    if not todo:
        return set()

    def differs(item: tuple[FileTask, str | None]) -> int | None:
        task, sha = item
        try:
            digest, _size = hash_file(task.root, task.path)
        except OSError:
            return task.key  # the worker says why it cannot be read
        return task.key if digest != sha else None

    with ThreadPoolExecutor(max_workers=min(8, len(todo))) as pool:
        return {key for key in pool.map(differs, todo) if key is not None}


def _same_content(
    tasks: list[FileTask], prev: dict[Key, tuple[int, int, str | None, str | None]]
) -> set[int]:
    """Keys of the tasks whose mtime moved but whose bytes hash to the stored sha256 (read in threads:
    hashing releases the GIL). A file that cannot be read now counts as changed: the worker says why."""
    todo = [
        (t, p[2])
        for t in tasks
        if (p := prev.get((t.repo, t.path))) is not None and p[0] == t.size and p[1] != t.mtime_ns and p[2]
    ]
    if not todo:
        return set()

    def check(item: tuple[FileTask, str | None]) -> int | None:
        task, sha = item
        try:
            digest, size = hash_file(task.root, task.path)
        except OSError:
            return None
        return task.key if (digest, size) == (sha, task.size) else None

    with ThreadPoolExecutor(max_workers=min(8, len(todo))) as pool:
        return {key for key in pool.map(check, todo) if key is not None}


def _parse_errors_missing(extractors: list[FileExtractor], rerun: set[str], language: str | None) -> bool:
    """True when no extractor that keeps its rows parses files of this language, so a parse error
    of an unchanged file was never recorded and the re-run extractors must record it."""
    return not any(ex.needs for ex in extractors if ex.name not in rerun and ex.applies_to(language))


def _applies(extractors: list[FileExtractor], name: str, language: str | None) -> bool:
    for ex in extractors:
        if ex.name == name:
            return ex.applies_to(language)
    return False
