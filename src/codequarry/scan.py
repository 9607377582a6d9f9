"""Sources -> manifest: which files exist, their size, mtime and language, before anything is read.

A git work tree is listed the way git sees it (tracked plus untracked files that are not ignored);
any other folder is walked, pruning VCS folders, caches, ``node_modules`` and virtual environments.
Symlinks are followed only while they stay inside the source root, and a loop ends at the first
folder seen twice. The store folder is never listed.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import stat
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from codequarry.errors import UsageError
from codequarry.language import language_of, language_of_shebang  # noqa: F401  (detection lives there)

PRUNED_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", "node_modules", ".quarry", ".tox", ".nox",
                         ".mypy_cache", ".pytest_cache", ".ruff_cache"})

@dataclass(frozen=True)
class SourceRoot:
    """One source given on the command line."""

    repo: str
    root: str  # absolute, real path of the folder
    only: str | None = None  # a single file (relative path) when the source is a file


@dataclass(frozen=True, slots=True)
class ScannedFile:
    repo: str
    root: str
    path: str  # relative to root, POSIX
    size: int
    mtime_ns: int
    language: str | None


@dataclass
class Manifest:
    files: list[ScannedFile] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (repo, path, reason)
    listing: dict[str, str] = field(default_factory=dict)  # repo -> "git" | "walk" | "file"


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
        name = (root.name or "root") if only is None else real.stem
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


def _inside(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def _git_listing(root: str) -> list[str] | None:
    """Files git sees under root (tracked + untracked-not-ignored), or None if not a git work tree."""
    git = shutil.which("git")
    if git is None or not os.path.exists(root):
        return None
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    try:
        probe = subprocess.run([git, "-C", root, "rev-parse", "--is-inside-work-tree"],
                               capture_output=True, text=True, env=env, timeout=60)
        if probe.returncode != 0 or probe.stdout.strip() != "true":
            return None
        # a folder the enclosing repository ignores (a virtualenv, pyenv's versions/) is not git's to list
        ignored = subprocess.run([git, "-C", root, "check-ignore", "-q", "."], capture_output=True, env=env,
                                 timeout=60)
        if ignored.returncode == 0:
            return None
        out = subprocess.run([git, "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             capture_output=True, env=env, timeout=600)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    names = [n.decode("utf-8", "surrogateescape") for n in out.stdout.split(b"\0") if n]
    return sorted(set(names))


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
        self.manifest.skipped.append((self.src.repo, rel, reason))

    def add(self, rel: str, full: str) -> None:
        """Add one file after checking it is a regular file that stays inside the root."""
        try:
            st = os.lstat(full)
        except OSError:
            return  # listed by git but deleted from the work tree
        if stat.S_ISLNK(st.st_mode):
            real = os.path.realpath(full)
            if not _inside(real, self.root):
                self.skip(rel, "symlink_outside_root")
                return
            try:
                st = os.stat(full)
            except OSError:
                self.skip(rel, "broken_symlink")
                return
        if not stat.S_ISREG(st.st_mode):
            return
        lang = language_of(rel.rsplit("/", 1)[-1])
        self.manifest.files.append(ScannedFile(self.src.repo, self.root, rel, st.st_size, st.st_mtime_ns, lang))

    def prunable_parent(self, rel: str, cache: dict[str, bool]) -> bool:
        """For git listings: is any parent folder pruned (VCS, cache, venv, store, excluded)?"""
        parts = rel.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            hit = cache.get(d)
            if hit is None:
                full = os.path.join(self.root, d)
                hit = (parts[i - 1] in PRUNED_DIRS or os.path.realpath(full) in self.never
                       or _is_venv(full) or self.exclude(d))
                cache[d] = hit
            if hit:
                return True
        return False

    def run(self) -> None:
        if self.src.only is not None:
            self.manifest.listing[self.src.repo] = "file"
            self.add(self.src.only, os.path.join(self.root, self.src.only))
            return
        listed = _git_listing(self.root)
        if listed is not None:
            self.manifest.listing[self.src.repo] = "git"
            cache: dict[str, bool] = {}
            for rel in listed:
                if self.exclude(rel) or self.prunable_parent(rel, cache):
                    continue
                self.add(rel, os.path.join(self.root, rel))
            return
        self.manifest.listing[self.src.repo] = "walk"
        self.walk()

    def walk(self) -> None:
        seen: set[tuple[int, int]] = set()
        root_st = os.stat(self.root)
        seen.add((root_st.st_dev, root_st.st_ino))
        stack: list[str] = [""]
        while stack:
            rel_dir = stack.pop()
            full_dir = os.path.join(self.root, rel_dir) if rel_dir else self.root
            try:
                entries = sorted(os.scandir(full_dir), key=lambda e: e.name)
            except OSError as exc:
                self.skip(rel_dir or ".", f"unreadable_dir: {exc.strerror}")
                continue
            subdirs: list[str] = []
            for entry in entries:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                try:
                    is_link = entry.is_symlink()
                    is_dir = entry.is_dir(follow_symlinks=True)
                except OSError:
                    continue
                if is_dir:
                    if entry.name in PRUNED_DIRS or self.exclude(rel):
                        continue
                    real = os.path.realpath(entry.path)
                    if is_link and not _inside(real, self.root):
                        self.skip(rel, "symlink_outside_root")
                        continue
                    if real in self.never or _is_venv(entry.path):
                        continue
                    try:
                        st = os.stat(entry.path)
                    except OSError:
                        continue
                    ident = (st.st_dev, st.st_ino)
                    if ident in seen:
                        continue  # a symlink loop, or a second link to a folder already listed
                    seen.add(ident)
                    subdirs.append(rel)
                elif not self.exclude(rel):
                    self.add(rel, entry.path)
            stack.extend(reversed(subdirs))


def scan(sources: list[SourceRoot], *, exclude: Iterable[str] = (), never: Iterable[str | Path] = ()) -> Manifest:
    """List every file of every source. ``never`` holds folders (the store) that are never listed."""
    manifest = Manifest()
    never_real = {os.path.realpath(p) for p in never}
    excluder = _Excluder(exclude)
    for source in sources:
        _Scanner(source, excluder, never_real, manifest).run()
    return manifest


def module_names(files: Iterable[ScannedFile]) -> dict[tuple[str, str], tuple[str | None, bool]]:
    """Dotted module name and is_package for every Python file, from the package layout.

    A folder is a package when it holds ``__init__.py``; the chain of packages above a file gives its
    name. A file whose folder is not a package is a top-level module (``src/`` layouts, scripts, and
    the standard library all work this way).
    """
    py = [f for f in files if f.language == "python"]
    packages: set[tuple[str, str]] = set()
    for f in py:
        if f.path == "__init__.py" or f.path.endswith("/__init__.py") or f.path.endswith("/__init__.pyi") \
                or f.path == "__init__.pyi":
            packages.add((f.repo, f.path.rsplit("/", 1)[0] if "/" in f.path else ""))
    prefixes: dict[str, list[str]] = {}
    out: dict[tuple[str, str], tuple[str | None, bool]] = {}
    for f in py:
        parts = f.path.split("/")
        stem = parts[-1].rsplit(".", 1)[0]
        is_pkg = stem == "__init__"
        names = [] if is_pkg else [stem]
        folders = parts[:-1]
        while folders and (f.repo, "/".join(folders)) in packages:
            names.append(folders[-1])
            folders = folders[:-1]
        if not folders and (f.repo, "") in packages:
            # the source root is itself a package: its name comes from the folders above it
            if f.repo not in prefixes:
                prefixes[f.repo] = _package_chain_above(f.root)
            names.extend(prefixes[f.repo])
        dotted = ".".join(reversed(names)) if names else None
        valid = bool(names) and all(n.isidentifier() for n in names)
        out[(f.repo, f.path)] = (dotted if valid else None, is_pkg)
    return out


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

