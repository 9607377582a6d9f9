"""Sources -> manifest: which files exist, their size, mtime and language, before anything is read.

A git work tree is listed the way git sees it (tracked plus untracked files that are not ignored),
read from its index and ignore files without running git (:mod:`codequarry.git_listing`); any other
folder is walked, pruning VCS folders, caches, ``node_modules`` and virtual environments. Symlinks
are followed only while they stay inside the source root, and a loop ends at the first folder seen
twice. The store folder is never listed. A path is stored in the escaped form of
:func:`codequarry.corpus_io.escape_name` (lossless for names that are not UTF-8). Whatever is listed
but cannot be taken (a FIFO, a socket, an unreadable folder, a symlink loop) is skipped with a reason.
"""

from __future__ import annotations

import errno
import fnmatch
import itertools
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from codequarry.corpus_io import escape_name, file_kind, inside, mtime_ns
from codequarry.errors import UsageError
from codequarry.language import language_of, language_of_shebang  # noqa: F401  (detection lives there)

PRUNED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "__pycache__",
        "node_modules",
        ".quarry",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
    }
)


@dataclass(frozen=True)
class SourceRoot:
    """One source given on the command line."""

    repo: str
    root: str  # absolute, real path of the folder
    only: str | None = None  # a single file (relative path) when the source is a file
    named: bool = False  # the repo name was given (--repo NAME): it is the identity
    scope: str | None = (
        None  # a file of a registered repo given alone: the whole root is listed, this file run
    )


@dataclass(frozen=True, slots=True)
class ScannedFile:
    repo: str
    root: str
    path: str  # relative to root, POSIX, escaped (corpus_io.escape_name)
    size: int
    mtime_ns: int
    language: str | None


@dataclass
class Manifest:
    files: list[ScannedFile] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (repo, path, reason)
    listing: dict[str, str] = field(default_factory=dict)  # repo -> "git" | "walk" | "file"
    notes: list[str] = field(default_factory=list)  # e.g. a damaged git index, walked instead


def resolve_sources(paths: Iterable[str | Path]) -> list[SourceRoot]:
    """Check that each source exists and give each its own repo name (folder name, made unique)."""
    roots: list[SourceRoot] = []
    used: set[str] = set()
    for raw in paths:
        p = Path(raw).expanduser()
        if not p.exists():
            raise UsageError(f"source '{raw}' does not exist")
        real = p.resolve()
        if real.is_dir():
            root, only = real, None
        elif real.is_file():
            root, only = real.parent, real.name
        else:
            raise UsageError(f"source '{raw}' is neither a folder nor a regular file")
        name = escape_name((root.name or "root") if only is None else real.stem)
        repo, n = name, 2
        while repo in used:
            repo, n = f"{name}-{n}", n + 1
        used.add(repo)
        roots.append(SourceRoot(repo=repo, root=str(root), only=only))
    if not roots:
        raise UsageError("give at least one source folder or file")
    return roots


class _Excluder:
    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = [p.rstrip("/") for p in patterns if p.strip()]

    def __call__(self, rel: str) -> bool:
        if not self.patterns:
            return False
        base = rel.rsplit("/", 1)[-1]
        return any(fnmatch.fnmatchcase(rel, p) or fnmatch.fnmatchcase(base, p) for p in self.patterns)

    def any_parent(self, rel: str) -> bool:
        parts = rel.split("/")
        return any(self("/".join(parts[:i])) for i in range(1, len(parts) + 1))


def _is_venv(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "pyvenv.cfg"))


class _Scanner:
    def __init__(self, source: SourceRoot, exclude: _Excluder, never: set[str], manifest: Manifest) -> None:
        self.src = source
        self.root = source.root
        self.exclude = exclude
        self.never = never  # real paths of folders never to list (the store)
        self.manifest = manifest

    def skip(self, rel: str, reason: str) -> None:
        self.manifest.skipped.append((self.src.repo, escape_name(rel), reason))

    def add(self, rel: str, full: str) -> None:
        """Add one file (``rel`` as the OS names it) after checking it is a regular file that stays
        inside the root; anything else listed is skipped with a reason."""
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            return  # listed by git's index but deleted from the work tree
        except OSError as exc:  # e.g. in a folder without the x bit
            self.skip(rel, f"unreadable: {exc.strerror}")
            return
        if stat.S_ISLNK(st.st_mode):
            real = os.path.realpath(full)
            if not inside(real, self.root):
                self.skip(rel, "symlink_outside_root")
                return
            try:
                st = os.stat(full)
            except OSError as exc:
                self.skip(rel, "symlink_loop" if exc.errno == errno.ELOOP else "broken_symlink")
                return
            if stat.S_ISDIR(st.st_mode):
                self.skip(rel, "symlinked_folder: git lists the link, not the folder's files")
                return
        if stat.S_ISDIR(st.st_mode):
            return  # a submodule or nested repository git's index names as one entry
        if not stat.S_ISREG(st.st_mode):
            self.skip(rel, f"special_file: {file_kind(st.st_mode)}")
            return
        lang = language_of(rel.rsplit("/", 1)[-1])
        self.manifest.files.append(
            ScannedFile(self.src.repo, self.root, escape_name(rel), st.st_size, mtime_ns(st), lang)
        )

    def pruned_dir(self, rel: str, full: str) -> bool:
        """Is this folder never listed (VCS, cache, venv, store, excluded)?"""
        return (
            rel.rsplit("/", 1)[-1] in PRUNED_DIRS
            or self.exclude(rel)
            or os.path.realpath(full) in self.never
            or _is_venv(full)
        )

    def prunable_parent(self, rel: str, cache: dict[str, bool]) -> bool:
        """For git listings: is any parent folder pruned (VCS, cache, venv, store, excluded)?"""
        parts = rel.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            hit = cache.get(d)
            if hit is None:
                hit = cache[d] = self.pruned_dir(d, os.path.join(self.root, d))
            if hit:
                return True
        return False

    def parent_inside(self, rel: str, cache: dict[str, bool]) -> bool:
        """Does the folder of ``rel`` really lie inside the root (no folder on the way is a symlink out)?"""
        folder = rel.rsplit("/", 1)[0] if "/" in rel else ""
        key = "\0inside:" + folder
        hit = cache.get(key)
        if hit is None:
            hit = cache[key] = inside(os.path.realpath(os.path.join(self.root, folder)), self.root)
        return hit

    def run(self) -> None:
        if self.src.only is not None:
            self.manifest.listing[self.src.repo] = "file"
            self.add(self.src.only, os.path.join(self.root, self.src.only))
            return
        from codequarry.git_listing import DamagedIndex, list_work_tree  # dulwich: only when a scan runs

        try:
            listed = list_work_tree(self.root, prune=self.pruned_dir)
        except DamagedIndex as exc:
            self.manifest.notes.append(
                f"{self.src.repo}: git index not read ({exc}); the folder was walked instead"
            )
            listed = None
        if listed is not None:
            self.manifest.listing[self.src.repo] = listed.kind
            self.manifest.notes.extend(f"{self.src.repo}: {note}" for note in listed.notes)
            for rel, why in listed.unreadable:
                self.skip(rel, f"unreadable_dir: {why}")
            cache: dict[str, bool] = {}
            for rel in listed.names:
                if self.exclude(rel) or self.prunable_parent(rel, cache):
                    continue
                if not self.parent_inside(rel, cache):
                    self.skip(rel, "symlink_outside_root")
                    continue
                self.add(rel, os.path.join(self.root, rel))
            return
        self.manifest.listing[self.src.repo] = "walk"
        self.walk()

    def walk(self) -> None:
        seen: set[tuple[int, int]] = set()
        root_st = os.stat(self.root)
        seen.add((root_st.st_dev, root_st.st_ino))
        # each folder with its real path: a folder entry that is no symlink is its parent's real
        # path and its name (a realpath of each, one lstat per component, was ~10% of the scan)
        stack: list[tuple[str, str]] = [("", os.path.realpath(self.root))]
        while stack:
            rel_dir, real_dir = stack.pop()
            full_dir = os.path.join(self.root, rel_dir) if rel_dir else self.root
            try:
                entries = sorted(os.scandir(full_dir), key=lambda e: e.name)
            except OSError as exc:
                self.skip(rel_dir or ".", f"unreadable_dir: {exc.strerror}")
                continue
            subdirs: list[tuple[str, str]] = []
            for entry in entries:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                try:
                    is_link = entry.is_symlink()
                    is_dir = entry.is_dir(follow_symlinks=True)
                except OSError:
                    is_link = is_dir = False  # add() says why it cannot be taken
                if is_dir:
                    real = os.path.realpath(entry.path) if is_link else os.path.join(real_dir, entry.name)
                    sub = self.subdir(rel, entry.path, real, is_link, seen)
                    if sub:
                        subdirs.append(sub)
                elif entry.name != ".git" and not self.exclude(rel):  # a '.git' file is git's pointer
                    self.add(rel, entry.path)
            stack.extend(reversed(subdirs))

    def subdir(
        self, rel: str, full: str, real: str, is_link: bool, seen: set[tuple[int, int]]
    ) -> tuple[str, str] | None:
        """The folder to walk into with its real path (``real``), or None (pruned, outside the
        root, or seen already)."""
        if full.rsplit(os.sep, 1)[-1] in PRUNED_DIRS or self.exclude(rel):
            return None
        if is_link and not inside(real, self.root):
            self.skip(rel, "symlink_outside_root")
            return None
        if real in self.never or _is_venv(full):
            return None
        try:
            st = os.stat(full)
        except OSError as exc:
            self.skip(rel, f"unreadable_dir: {exc.strerror}")
            return None
        ident = (st.st_dev, st.st_ino)
        if ident in seen:
            # a symlink loop, or a second link to a folder already listed: its files are listed once
            self.skip(
                rel,
                "symlink_loop"
                if inside(os.path.realpath(os.path.dirname(full)), real)
                else "duplicate_folder_link",
            )
            return None
        seen.add(ident)
        return rel, real


def scan(
    sources: list[SourceRoot], *, exclude: Iterable[str] = (), never: Iterable[str | Path] = ()
) -> Manifest:
    """List every file of every source. ``never`` holds folders (the store) that are never listed."""
    manifest = Manifest()
    never_real = {os.path.realpath(p) for p in never}
    for source in sources:  # the store's own files, written by this run, are no corpus
        held = next((p for p in never_real if inside(os.path.realpath(source.root), p)), None)
        if held is not None:
            raise UsageError(
                f"source '{source.root}' is inside the store '{held}': a store's own files are not a "
                "corpus; extract a folder outside it, or give another --store"
            )
    excluder = _Excluder(exclude)
    for source in sources:
        _Scanner(source, excluder, never_real, manifest).run()
    return manifest


#: files that make their folder a distribution's root
PROJECT_FILES = frozenset({"setup.py", "pyproject.toml", "setup.cfg"})


def module_names(files: Iterable[ScannedFile]) -> dict[tuple[str, str], tuple[str | None, bool]]:
    """Dotted module name and is_package for every Python file, from the package layout.

    A folder is a package when it holds ``__init__.py``; the chain of packages above a file gives its
    name. A file whose folder is not a package is a top-level module (``src/`` layouts, scripts, and
    the standard library all work this way), unless a package holds that folder: a folder without
    ``__init__.py`` inside a package is a namespace portion of it (PEP 420), and ``pkg/sub/mod.py``
    is imported as ``pkg.sub.mod``, ``pkg/sub/inner/__init__.py`` as ``pkg.sub.inner`` (only when
    every such folder's name is an identifier). A package folder whose name is no identifier
    (``graphql-demo/``) is where the chain starts: no import spells it, its code runs from inside;
    so is a folder holding ``setup.py``, ``pyproject.toml`` or ``setup.cfg`` (a project of its own,
    installed apart from the package above it).
    """
    files = list(files)
    py = [f for f in files if f.language == "python"]
    # folders that are a distribution's root (setup.py, pyproject.toml, setup.cfg): installed on
    # their own, so no namespace chain passes them (a repo of several projects side by side)
    roots = {(f.repo, _folder(f.path)) for f in files if f.path.rsplit("/", 1)[-1] in PROJECT_FILES}
    packages: set[tuple[str, str]] = set()
    for f in py:
        if (
            f.path == "__init__.py"
            or f.path.endswith("/__init__.py")
            or f.path.endswith("/__init__.pyi")
            or f.path == "__init__.pyi"
        ):
            packages.add((f.repo, _folder(f.path)))
    prefixes: dict[str, list[str]] = {}
    namespaces: dict[tuple[str, str], int] = {}
    out: dict[tuple[str, str], tuple[str | None, bool]] = {}
    for f in py:
        parts = f.path.split("/")
        stem = parts[-1].rsplit(".", 1)[0]
        is_pkg = stem == "__init__"
        names = [] if is_pkg else [stem]
        folders = parts[:-1]
        while folders:
            if (f.repo, "/".join(folders)) in packages:
                if not folders[-1].isidentifier():
                    break  # no import goes through it: the chain starts below (run from inside)
                names.append(folders[-1])
                folders = folders[:-1]
                continue
            up = _namespace_depth(f.repo, folders, packages, roots, namespaces)
            if not up:
                break
            names.extend(reversed(folders[-up:]))
            folders = folders[:-up]
        if not folders and (f.repo, "") in packages:
            # the source root is itself a package: its name comes from the folders above it (up to
            # one whose name no import can spell)
            if f.repo not in prefixes:
                chain = _package_chain_above(f.root)
                prefixes[f.repo] = list(itertools.takewhile(str.isidentifier, chain))
            names.extend(prefixes[f.repo])
        dotted = ".".join(reversed(names)) if names else None
        valid = bool(names) and all(n.isidentifier() for n in names)
        out[(f.repo, f.path)] = (dotted if valid else None, is_pkg)
    return out


def _folder(path: str) -> str:
    """The folder of a listed path ('' at the root)."""
    return path.rsplit("/", 1)[0] if "/" in path else ""


def _namespace_depth(
    repo: str,
    folders: list[str],
    packages: set[tuple[str, str]],
    roots: set[tuple[str, str]],
    memo: dict[tuple[str, str], int],
) -> int:
    """How many of the innermost ``folders`` (none of them a package) lie inside a package, the
    nearest one above them, as namespace portions of it; 0 when no package holds them, when a
    name on the way is no identifier (such a folder cannot be imported through), or when one of
    them is a distribution's root."""
    key = (repo, "/".join(folders))
    got = memo.get(key)
    if got is None:
        got = 0
        for up in range(1, len(folders) + 1):
            name = folders[-up]
            if not name.isidentifier() or (repo, "/".join(folders[: len(folders) - up + 1])) in roots:
                break
            above = folders[:-up]
            if (repo, "/".join(above)) in packages:
                got = up
                break
            if not above:
                break
        memo[key] = got
    return got


def _package_chain_above(root: str) -> list[str]:
    """Names of root and of each parent folder that is a package, innermost first."""
    names: list[str] = []
    cur = root
    while True:
        names.append(os.path.basename(cur))
        parent = os.path.dirname(cur)
        if parent == cur or not os.path.isfile(os.path.join(parent, "__init__.py")):
            return names
        cur = parent
