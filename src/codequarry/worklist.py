"""The worklist of a run: the scanned manifest as file tasks, compared with the store's last snapshot.

One place decides what a run must do with the files, for ``quarry extract`` (under the store's writer
lock, after the scan and after the tables are prepared) and for ``quarry plan`` (a read-only preview
against the live snapshot). It cannot be part of the resolved :class:`~codequarry.plan.Plan`: the
snapshot it compares with is only stable while the run holds the lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from codequarry.api import FileExtractor
from codequarry.engine.worker import FileTask
from codequarry.incremental import WorkPlan, plan_work
from codequarry.language import AMBIGUOUS, is_ambiguous, refine
from codequarry.scan import Manifest, ScannedFile, SourceRoot, module_names
from codequarry.store import Snapshot, Store

_AMBIGUOUS = tuple(AMBIGUOUS)  # the extensions whose language the content settles


def manifest_tasks(manifest: Manifest) -> list[FileTask]:
    """One task per scanned file, with its language (refined from content when the name is not
    enough) and its module name (a file not importable by a name gets its stem)."""
    modules = module_names(manifest.files)
    return [file_task(key, f, modules) for key, f in enumerate(manifest.files)]


def file_task(
    key: int, f: ScannedFile, modules: Mapping[tuple[str, str], tuple[str | None, bool]]
) -> FileTask:
    """The task of the scanned file ``f`` (``modules``: ``scan.module_names`` of the whole listing)."""
    language = f.language
    # (the ending test first: is_ambiguous splits the path, ~10 us a file of 10^5)
    if (language is None and f.size > 0) or (f.path.lower().endswith(_AMBIGUOUS) and is_ambiguous(f.path)):
        language = refine(f.root, f.path, language)
    mod, is_pkg = modules.get((f.repo, f.path), (None, False))
    if language == "python" and mod is None:
        # not importable by this name (a script, 'audit-tests.py'): the file's stem stands in
        mod = f.path.rsplit("/", 1)[-1].rsplit(".", 1)[0] if f.language else f.path.rsplit("/", 1)[-1]
    return FileTask(
        key=key,
        repo=f.repo,
        root=f.root,
        path=f.path,
        size=f.size,
        mtime_ns=f.mtime_ns,
        language=language,
        module=mod,
        is_package=is_pkg,
    )


#: what makes a run's tasks from its listing: :func:`source_tasks` by default; `quarry watch` passes
#: one that keeps the last listing's tasks and makes only the changed files' again
TasksFn = Callable[[list[SourceRoot], Manifest], tuple[list[FileTask], set[str]]]


def source_tasks(sources: Iterable[SourceRoot], manifest: Manifest) -> tuple[list[FileTask], set[str]]:
    """The manifest's tasks, a source given as one file of its repo keeping that file alone; and the
    repos so scoped."""
    scoped = {s.repo: s.scope for s in sources if s.scope is not None}
    tasks = [t for t in manifest_tasks(manifest) if t.repo not in scoped or t.path == scoped[t.repo]]
    return tasks, set(scoped)


def worklist(
    store: Store,
    previous: Snapshot | None,
    sources: Iterable[SourceRoot],
    manifest: Manifest,
    extractors: list[FileExtractor],
    *,
    forced: set[str] | None = None,
    known: Mapping[str, FileExtractor] | None = None,
    tasks: TasksFn | None = None,
) -> WorkPlan:
    """What each extractor must do with the scanned files against ``previous`` (see incremental.py):
    ``forced`` extractors run on every file, ``known`` are the declarations of the catalog (a dropped
    extractor's languages say which rows of a shared table are its own)."""
    sources = list(sources)
    todo, scoped = (tasks or source_tasks)(sources, manifest)
    return plan_work(
        store,
        previous,
        todo,
        [s.repo for s in sources],
        extractors,
        forced=forced or set(),
        known=known,
        scoped=scoped,
    )
