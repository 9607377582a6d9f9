"""The files of a git work tree as git sees them, without running git.

``git ls-files --cached --others --exclude-standard`` is what a scan of a git work tree wants: tracked
files plus untracked files that are not ignored. But running git in a scanned repository lets that
repository run code: its ``.git/config`` can name an fsmonitor hook, a filter, a pager, an external
diff, or include another file that does. So quarry reads the two things it needs itself, with
dulwich's parsers and never through git:

- the index (``<gitdir>/index``): the tracked paths. A linked worktree or a submodule (a ``.git`` *file*
  saying ``gitdir: ...``) has its own index; a submodule's files are listed from its own index too;
- the ignore rules: ``.gitignore`` in each folder, ``<common gitdir>/info/exclude``, and the user's own
  global excludes file (``core.excludesFile`` of the user's global git config, else
  ``$XDG_CONFIG_HOME/git/ignore``). A repository's own config is never read, so a ``core.excludesFile``
  set there (which could point anywhere) is not honoured.

A git directory is read only inside the work tree that holds it: a ``.git`` file (``gitdir: ...``), a
``.git`` symlink or a ``commondir`` that resolves elsewhere (a linked worktree or a submodule whose
repository lives outside the folder scanned, or a repository naming another one on the machine to
borrow its identity and ignore rules) raises :class:`GitDirOutside`; the listing then reads nothing
outside the tree and lists every file its own ``.gitignore`` files (and the user's global excludes) do
not exclude, with a note, unless the user names that git directory's folder in ``QUARRY_GIT_DIRS``.

Every file is opened without following a symlink and without blocking (a FIFO named ``.gitignore`` is
skipped). An index that fails its checksum or cannot be parsed raises :class:`DamagedIndex`: the caller
walks the folder instead and says so.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:  # dulwich is imported when a work tree is found: a plain folder never pays for it
    from dulwich.ignore import IgnoreFilter, IgnoreFilterManager

from codequarry.corpus_io import OPEN_FLAGS

_MAX_POINTER = 64 * 1024  # a '.git' file or 'commondir' holds one path
#: the largest index read: ~5 million entries (git's own for the largest known monorepos is a few
#: hundred MB); a larger one (a sparse file of any size costs the repository nothing) was read whole,
#: twice its size in memory, and the listing falls back to the walk with a note instead
MAX_INDEX_BYTES = 512 << 20
#: how much longer than an index v4 its path names may be in all: each entry has 62 bytes besides
#: its name, so real paths (under ~250 bytes on average) expand an index v4 less than 4 times
V4_EXPANSION = 8
#: an ignore file larger than this is skipped, as git (2.42+) skips one over 100 MB: read whole it was
#: any size a sparse file makes it (one 4 GB line held in memory and handed to the pattern parser)
MAX_IGNORE_BYTES = 100 << 20
#: a longer ignore line is dropped: it can match only a path longer than PATH_MAX (unless it is mostly
#: bracket expressions), and dulwich's translation of a line is quadratic in its length (one 2 MB line
#: held the scan, in the parent where no file timeout applies, for minutes)
MAX_PATTERN_BYTES = 4096
#: an ignore file with more patterns than this that must each be tried on every entry (wildcards,
#: escapes) is not applied, with a note: the scan tries each of them on each file and folder it
#: meets, in the parent where no file timeout applies (100,000 of them and 2,000 untracked files took
#: a minute of CPU). Patterns without wildcards (a long generated list of paths) are looked up by
#: name instead (:class:`_Lookup`) and count for nothing here
MAX_TRIED_PATTERNS = 2_000
#: pattern tries one listing may make (each pattern an entry is asked against, after the lookups):
#: this many, plus MAX_TRIES_PER_ENTRY for each file and folder met. Past that, the listing gives up
#: and the folder is walked instead, with a note: 2,000 patterns no lookup narrows (``*1x*``), tried
#: on each of 20,000 files, held the parent (where no file timeout applies) for 8 s of CPU, 85 s with
#: the files six folders deep (each folder above a file was asked again for each file)
MAX_TRIES = 2_000_000
#: wildcard patterns one listing compiles, over all its ignore files (65 us each: dulwich
#: translates and compiles each one); an ignore file that would pass it is not applied, with a note
MAX_WILDCARDS = 20_000
#: notes of one listing (ignore files not applied) given one by one; the rest are counted in one
MAX_NOTES = 20
MAX_TRIES_PER_ENTRY = 200


def _ignore_lines(data: bytes) -> io.BytesIO:
    """An ignore file's bytes without its lines over MAX_PATTERN_BYTES, for ``read_ignore_patterns``."""
    if len(data) > MAX_PATTERN_BYTES and any(len(line) > MAX_PATTERN_BYTES for line in data.split(b"\n")):
        data = b"\n".join(line for line in data.split(b"\n") if len(line) <= MAX_PATTERN_BYTES)
    return io.BytesIO(data)


_MAX_SUBMODULE_DEPTH = 8
S_IFGITLINK = 0o160000
_UNCLEAN = re.compile(rb"^/|//|/$|\0|(?:^|/)(?:\.\.?|\.[gG][iI][tT])(?:/|$)")


class DamagedIndex(Exception):
    """The index cannot be trusted (bad checksum, truncated, unknown format or extension)."""


#: the user's own folders (``os.pathsep``-separated) whose git directories a work tree may name from
#: outside itself: a linked worktree's main repository, a submodule's superproject
TRUSTED_GIT_DIRS = "QUARRY_GIT_DIRS"


class TooManyTries(DamagedIndex):
    """The ignore rules took more pattern tries than the listing allows (see MAX_TRIES)."""


class _Budget:
    """The pattern tries one listing has made, and the files and folders it has met."""

    __slots__ = ("entries", "tries", "wildcards")

    def __init__(self) -> None:
        self.tries = 0
        self.entries = 0
        self.wildcards = 0  # the wildcard patterns of the ignore files read (see MAX_WILDCARDS)

    def spend(self, tries: int) -> None:
        self.tries += tries
        if self.tries > MAX_TRIES + MAX_TRIES_PER_ENTRY * self.entries:
            raise TooManyTries(
                f"its ignore rules took over {self.tries:,} pattern tries for {self.entries:,} files and "
                f"folders, more than {MAX_TRIES:,} + {MAX_TRIES_PER_ENTRY} a file: too many wildcard "
                "patterns that no name narrows"
            )


class GitDirOutside(DamagedIndex):
    """A ``.git`` file, a ``.git`` symlink or a ``commondir`` names a git directory outside the work tree
    (and outside the user's ``QUARRY_GIT_DIRS``): it is not read, the folder is walked instead."""

    def __init__(self, pointer: str, target: str) -> None:
        super().__init__(
            f"{pointer} names the git directory '{target}', outside the work tree, which is not read: "
            f"extract the work tree that holds it, or name its folder in {TRUSTED_GIT_DIRS} to trust it"
        )


def open_regular(path: str, limit: int | None = None, *, follow: bool = False) -> BinaryIO | None:
    """``path`` opened for reading when it is a regular file of at most ``limit`` bytes, not a symlink
    (unless ``follow``); None otherwise or when it cannot be opened. Never blocks on a FIFO."""
    try:
        fd = os.open(path, OPEN_FLAGS & ~os.O_NOFOLLOW if follow else OPEN_FLAGS)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode) and (limit is None or st.st_size <= limit):
            os.set_blocking(fd, True)
            return os.fdopen(fd, "rb")
    except OSError:
        pass
    os.close(fd)
    return None


def read_regular(path: str, limit: int | None = None, *, follow: bool = False) -> bytes | None:
    """The bytes of a regular file, or None when it is missing, not a regular file, a symlink (unless
    ``follow``), unreadable, or larger than ``limit`` (also when it grew past it while read: no more
    than ``limit`` + 1 bytes are read). Never blocks on a FIFO."""
    fh = open_regular(path, limit, follow=follow)
    if fh is None:
        return None
    with fh:
        try:
            data = fh.read() if limit is None else fh.read(limit + 1)
        except OSError:
            return None
    return data if limit is None or len(data) <= limit else None


def _looks_like_gitdir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "HEAD")) and (
        os.path.isdir(os.path.join(path, "objects")) or os.path.isfile(os.path.join(path, "commondir"))
    )


def _trusted(real: str, within: str) -> bool:
    """Is the real path ``real`` inside the folder ``within`` or one the user trusts (QUARRY_GIT_DIRS)?"""
    from codequarry.corpus_io import inside

    folders = [within] + [
        os.path.realpath(p) for p in os.environ.get(TRUSTED_GIT_DIRS, "").split(os.pathsep) if p
    ]
    return any(inside(real, f) for f in folders)


def git_dir_of(folder: str, within: str | None = None) -> str | None:
    """The git directory of ``folder/.git`` (a folder, or a file saying ``gitdir: <path>``), or None.

    The git directory, and its ``commondir`` if it has one, must resolve (links followed) inside the
    folder ``within`` (by default ``folder`` itself) or a folder of ``QUARRY_GIT_DIRS``; otherwise
    :class:`GitDirOutside` is raised and nothing there is read."""
    within = os.path.realpath(folder if within is None else within)
    dotgit = os.path.join(folder, ".git")
    if os.path.isdir(dotgit):
        gitdir, pointer = dotgit, ".git"
    else:
        data = read_regular(dotgit, _MAX_POINTER)
        if data is None or not data.startswith(b"gitdir:"):
            return None
        target = os.fsdecode(data[len(b"gitdir:") :].strip())
        gitdir, pointer = os.path.normpath(os.path.join(folder, target)), "the .git file"
    if not _trusted(os.path.realpath(gitdir), within):
        raise GitDirOutside(pointer, gitdir)
    if not _looks_like_gitdir(gitdir):
        return None
    common = _common_dir(gitdir)
    if not _trusted(os.path.realpath(common), within):
        raise GitDirOutside("its commondir", common)
    return gitdir


def find_work_tree(root: str) -> tuple[str, str] | None:
    """(top of the work tree, git dir) of the repository holding ``root``, or None. Like git, the
    search stops at a file-system boundary and does not climb into a folder of the user's
    ``GIT_CEILING_DIRECTORIES``. Raises :class:`GitDirOutside` when the git directory found lies
    outside the work tree."""
    found = _search(root)
    if found is None:
        return None
    top, gitdir = found
    if isinstance(gitdir, GitDirOutside):
        raise gitdir
    return top, gitdir


def _search(root: str) -> tuple[str, str | GitDirOutside] | None:
    """:func:`find_work_tree`, but a git directory outside the work tree is returned (as the
    exception that says so) instead of raised, with the top of that work tree."""
    ceilings = {
        os.path.realpath(c) for c in os.environ.get("GIT_CEILING_DIRECTORIES", "").split(os.pathsep) if c
    }
    cur = root
    try:
        dev = os.stat(cur).st_dev
    except OSError:
        return None
    while True:
        try:
            gitdir = git_dir_of(cur)
        except GitDirOutside as exc:
            return cur, exc
        if gitdir is not None:
            return cur, gitdir
        parent = os.path.dirname(cur)
        try:
            if parent == cur or parent in ceilings or os.stat(parent).st_dev != dev:
                return None
        except OSError:
            return None
        cur = parent


def _common_dir(gitdir: str) -> str:
    data = read_regular(os.path.join(gitdir, "commondir"), _MAX_POINTER)
    if data is None:
        return gitdir
    return os.path.normpath(os.path.join(gitdir, os.fsdecode(data.strip())))


def _check_v4_names(data: bytes) -> None:
    """Raise :class:`DamagedIndex` when the names of an index v4 expand past MAX_INDEX_BYTES.

    Version 4 writes each name as the bytes to strip from the previous one and a suffix, so each
    entry of 65 bytes can name a path of 4,000: a 6.5 MB index of 100,000 such entries took 856 MB
    and 11.6 s of CPU to parse, in the parent, and one near the size limit all the machine's memory.
    The names' lengths are added up first (no name is built): at most V4_EXPANSION times the index's
    size, and never more than an index v2 of the largest size read could hold."""
    count = int.from_bytes(data[8:12], "big")
    end = len(data) - 20
    limit = min(MAX_INDEX_BYTES, V4_EXPANSION * len(data))
    pos, length, total = 12, 0, 0
    for _ in range(count):
        flags = int.from_bytes(data[pos + 60 : pos + 62], "big")
        pos += 64 if flags & 0x4000 else 62  # an extended entry has two more flag bytes
        if pos >= end:
            raise DamagedIndex("the index is truncated")
        byte = data[pos]
        pos += 1
        strip = byte & 0x7F
        while byte & 0x80 and pos < end:
            byte = data[pos]
            pos += 1
            strip = ((strip + 1) << 7) | (byte & 0x7F)
        nul = data.find(b"\0", pos, end)
        if nul < 0 or strip > length:
            raise DamagedIndex("the index is damaged (a path name of version 4 cannot be read)")
        length += nul - pos - strip
        total += length
        if total > limit:
            raise DamagedIndex(
                f"the path names of the index (version 4, prefix-compressed) expand past {limit:,} "
                f"bytes, {V4_EXPANSION} times its size"
            )
        pos = nul + 1


def read_index(gitdir: str) -> tuple[set[str], set[str]]:
    """(tracked file paths, submodule paths) from ``<gitdir>/index``, as ``os.fsdecode`` text relative
    to the work tree; both empty when there is no index yet (a repository without commits)."""
    path = os.path.join(gitdir, "index")
    if not os.path.lexists(path):
        return set(), set()
    try:
        size = os.lstat(path).st_size
    except OSError:
        size = 0
    if size > MAX_INDEX_BYTES:
        raise DamagedIndex(f"the index is {size:,} bytes, over {MAX_INDEX_BYTES >> 20} MiB")
    data = read_regular(path, MAX_INDEX_BYTES)
    if data is None:
        raise DamagedIndex("the index is not a readable regular file (or grew past the size read)")
    if len(data) < 32:
        raise DamagedIndex("the index is truncated")
    body, checksum = data[:-20], data[-20:]
    if checksum != bytes(20) and hashlib.sha1(body).digest() != checksum:  # noqa: S324 - git's own checksum
        raise DamagedIndex("the index fails its checksum")
    if data[4:8] == b"\0\0\0\x04":
        _check_v4_names(data)
    from dulwich.index import ConflictedIndexEntry, read_index_dict_with_version

    try:
        entries, _version, extensions = read_index_dict_with_version(io.BytesIO(data))
    except Exception as exc:  # dulwich raises assorted errors on garbage
        raise DamagedIndex(f"the index cannot be parsed ({type(exc).__name__})") from exc
    if any(getattr(ext, "signature", b"") == b"link" for ext in extensions):
        raise DamagedIndex("split indexes (core.splitIndex) are not read")
    files: set[str] = set()
    modules: set[str] = set()
    for name, got in entries.items():
        if not _clean(name):
            continue  # git itself refuses such an entry; a crafted index could point out of the tree
        entry = (got.this or got.other or got.ancestor) if isinstance(got, ConflictedIndexEntry) else got
        if entry is None:
            continue
        kind = entry.mode & 0o170000
        text = os.fsdecode(name)
        if kind == S_IFGITLINK:
            modules.add(text)
        elif kind != stat.S_IFDIR:  # a sparse index's folder entry holds nothing on disk
            files.add(text)
    return files, modules


def _clean(name: bytes) -> bool:
    """A path git would accept in an index: relative, no empty, '.', '..' or '.git' component."""
    return bool(name) and _UNCLEAN.search(name) is None


_STAR = b"[^/]*"  # what dulwich's translate makes of a '*' inside a path segment
#: a piece of translated pattern that always matches exactly one character per item: escaped or
#: plain characters and classes, within one segment
_FIXED = re.compile(rb"(?:\\.|\[(?:\\.|[^\]\\])+\]|[^\\\[\](){}*+?|/.^$])*")


def _linear(regex: bytes) -> bytes:
    """``regex`` (a translated ignore pattern) without its exponential backtracking.

    ``a*a*a*...*b`` becomes ``a[^/]*a[^/]*...b``, which Python's backtracking engine takes
    exponential time to reject on a name of many a's: a hostile ``.gitignore`` of one line would
    hang the scan. Between two stars of one segment, a fixed-width piece can be matched at its
    earliest place and never reconsidered (any match of the rest from a later place also starts
    from the earlier one, the next star absorbing the gap), which an atomic lazy group says:
    ``(?>[^/]*?piece)``. The last star of a segment keeps its ordinary meaning."""
    pieces = regex.split(_STAR)
    if len(pieces) <= 3:  # up to two stars: at most quadratic
        return regex
    out = [pieces[0]]
    for i, piece in enumerate(pieces[1:], start=1):
        if i < len(pieces) - 1 and _FIXED.fullmatch(piece):
            out.append(b"(?>[^/]*?" + piece + b")")
        else:
            out.append(_STAR + piece)
    return b"".join(out)


def _tamed(patterns: list[Any]) -> None:
    """Every pattern's expressions made linear, in place (see :func:`_linear`)."""
    for pattern in patterns:
        for attr in ("_re", "_name_re"):
            compiled = getattr(pattern, attr, None)
            if compiled is not None and compiled.pattern.count(_STAR) > 2:
                setattr(pattern, attr, re.compile(_linear(compiled.pattern), compiled.flags))


_WILDCARD = re.compile(rb"[*?[\\]")


def _plain(line: bytes) -> tuple[bool, bytes] | None:
    """``(anchored, name)`` for an ignore line that can match one name only, read from its text, else
    None (it is compiled and tried, or filed by :func:`_affix`).

    Without wildcards or escapes, the line (its ``!`` and its trailing ``/`` taken off, as dulwich does
    before translating it) is a plain name: with no ``/`` it matches an entry whose last segment is
    that name, at any depth (``(.*/)?name``); with one, it matches the entry of exactly that path
    below its ignore file (a leading ``/`` only anchors it). Its expression is compiled only when an
    entry of that name is asked about: dulwich compiled each line as read (65 us each: most of the
    cost of a long generated list of paths)."""
    text = line[1:] if line.startswith(b"!") else line
    if _WILDCARD.search(text):
        return None
    text = text.rstrip(b"/")
    if not text or b"//" in text:
        return None
    name = text[1:] if text.startswith(b"/") else text
    if not name or name.startswith(b"/"):
        return None
    return b"/" in text, name


_GLOB = re.compile(rb"[*?[\]\\]")
#: the longest prefix or suffix a wildcard pattern is filed under (longer ones by their first or
#: last _AFFIX bytes): an entry's name is looked up by its prefixes and suffixes up to this length
_AFFIX = 16


def _affix(pattern: Any) -> tuple[bool, bytes] | None:
    """``(is_suffix, text)``: literal text the last segment of every entry a wildcard pattern matches
    ends with (or starts with), cut to :data:`_AFFIX` bytes; None when there is none to file it under.

    The pattern's expression ends with the escaped text after its last wildcard or escape, then ``/?``
    (asked about names without a trailing slash), so the entry's last segment ends with that text's
    last segment. A pattern with no ``/`` (but a leading or a trailing one) matches the last segment
    whole with wildcards that never match ``/``, so that segment also starts with the text before its
    first wildcard. A pattern that describes a folder's contents (``dir/*``) is asked about the names
    inside it, and stays with the patterns tried on every entry."""
    if pattern.ignorecase or pattern.is_empty or pattern._describes_contents:
        return None
    text = (pattern.pattern if pattern.is_exclude else pattern.pattern[1:]).rstrip(b"/")
    globs = list(_GLOB.finditer(text))
    if not globs:
        return None  # a plain name or path: :func:`_literal` files it, or it is tried
    suffix = text[globs[-1].end() :].rpartition(b"/")[2]
    body = text[1:] if text.startswith(b"/") else text  # a leading '/' only anchors it
    prefix = body[: globs[0].start() - (len(text) - len(body))] if b"/" not in body else b""
    if not suffix and not prefix:
        return None
    if len(suffix) >= len(prefix):
        return True, suffix[-_AFFIX:]
    return False, prefix[:_AFFIX]


class _Narrowed:
    """What dulwich's decision reads of an ignore file (``patterns``, in file order), for one entry."""

    __slots__ = ("patterns",)

    def __init__(self, patterns: list[Any]) -> None:
        self.patterns = patterns


class _Lookup:
    """One ignore file's patterns, narrowed for each entry to those that can match it: its plain
    names and paths looked up by the entry's last segment or whole path (:func:`_plain`), its
    wildcard patterns with a literal start or end by the prefixes and suffixes of the entry's last
    segment (:func:`_affix`: ``*.pyc``, ``build*``), plus every other pattern, in file order. The
    last matching pattern decides an entry (git's rule), and a pattern left out cannot match it, so
    the answer is the one all the patterns give; a long list of paths costs a dictionary lookup per
    entry instead of a regular expression per path."""

    def __init__(self, lines: list[bytes], shown: str) -> None:
        from dulwich.ignore import IgnoreFilter, MalformedPattern, Pattern

        self.rules = IgnoreFilter([], path=shown)  # names this file to dulwich's manager
        self._pattern = Pattern
        self.by_name: dict[bytes, list[int]] = {}
        self.by_path: dict[bytes, list[int]] = {}
        self.by_affix: tuple[dict[bytes, list[int]], dict[bytes, list[int]]] = ({}, {})
        self.tried: list[int] = []  # every pattern with a wildcard (what MAX_TRIED_PATTERNS counts)
        rest: list[int] = []  # those tried on every entry
        self.lines: list[bytes] = []
        self.all: list[Any] = []  # a compiled pattern; None for a plain line no entry has hit yet
        for line in lines:
            plain = _plain(line)
            if plain is not None:
                (self.by_path if plain[0] else self.by_name).setdefault(plain[1], []).append(len(self.all))
                self.lines.append(line)
                self.all.append(None)
                continue
            try:
                pattern = Pattern(line)
            except MalformedPattern:
                continue  # dulwich leaves such a line out too (with a warning)
            i = len(self.all)
            self.lines.append(line)
            self.all.append(pattern)
            self.tried.append(i)
            affix = _affix(pattern)
            if affix is None:
                rest.append(i)
            else:
                self.by_affix[affix[0]].setdefault(affix[1], []).append(i)
        _tamed([self.all[i] for i in self.tried])
        #: the lengths of the prefixes and suffixes filed
        self.lengths = tuple(sorted({len(k) for k in d}) for d in self.by_affix)
        self.rest_ids = rest
        self.rest = _Narrowed([self.all[i] for i in rest])

    def _get(self, i: int) -> Any:
        pattern = self.all[i]
        if pattern is None:
            pattern = self.all[i] = self._pattern(self.lines[i])
        return pattern

    def narrowed(self, rel: str) -> _Narrowed:
        path = os.fsencode(rel)
        name = path.rpartition(b"/")[2]
        hits = self.by_name.get(name, []) + self.by_path.get(path, [])
        prefixes, suffixes = self.by_affix
        for n in self.lengths[1]:
            if n > len(name):
                break
            hits += suffixes.get(name[-n:], ())
        for n in self.lengths[0]:
            if n > len(name):
                break
            hits += prefixes.get(name[:n], ())
        if not hits:
            return self.rest
        return _Narrowed([self._get(i) for i in sorted(hits + self.rest_ids)])


@cache
def _ignores_class() -> Any:
    """The ignore rules' class (made on first use, so that dulwich is imported only then)."""
    from dulwich.ignore import IgnoreFilterManager

    class _Ignores(IgnoreFilterManager):
        """dulwich's git-compatible ignore rules, with each ``.gitignore`` read by :func:`read_regular`
        (not followed if a symlink, as git does; never a blocking open of a FIFO), and each file's
        patterns narrowed to those that can match the entry asked about (:class:`_Lookup`)."""

        def __init__(self, top: str, lookups: list[_Lookup], notes: list[str], budget: _Budget) -> None:
            super().__init__(top, [lookup.rules for lookup in lookups], False)
            self.notes = notes  # ignore files not applied, for the scan's notes
            self.budget = budget
            #: every ignore file's lookup, by its rules' identity (what dulwich's filters list holds)
            self._lookups = {id(lookup.rules): lookup for lookup in lookups}

        def _load_path(self, path: str) -> IgnoreFilter | None:
            cached = self._path_filters.get(path, False)
            if cached is not False:
                return cached  # type: ignore[return-value]
            data = read_regular(os.path.join(self._top_path, path, ".gitignore"), MAX_IGNORE_BYTES)
            shown = os.path.join(path, ".gitignore")
            lookup = None if data is None else _lookup(data, shown, self.notes, self.budget)
            got = None if lookup is None else lookup.rules
            if lookup is not None:
                self._lookups[id(got)] = lookup
            self._path_filters[path] = got
            return got

        def _filters_for(self, path: str) -> list[tuple[int, Any]]:
            # dulwich asks the filters of ``path`` about ``path`` without its trailing slash, each
            # relative to the folder of its ignore file (``depth`` segments down)
            parts = path.rstrip("/").split("/")
            out: list[tuple[int, Any]] = []
            for depth, rules in super()._filters_for(path):
                narrowed = self._lookups[id(rules)].narrowed("/".join(parts[depth:]))
                self.budget.spend(len(narrowed.patterns))
                out.append((depth, narrowed))
            return out

        def excluded(self, path: str, is_dir: bool) -> bool:
            """Does the last pattern matching ``path`` itself exclude it (``path`` as dulwich is asked:
            a folder with a trailing slash)? What ``is_ignored`` (a file) or ``may_prune_directory``
            (a folder) answers when no folder above the entry is excluded, as in a walk that did not
            prune them; they each asked again about every folder above the entry, for each entry."""
            from dulwich.ignore import _last_matching_pattern

            pattern = _last_matching_pattern(self._filters_for(path), path.rstrip("/"), is_dir)
            return pattern is not None and pattern.is_exclude

    return _Ignores


def _user_excludes_file() -> str:
    """The user's global excludes file (their own git config, never the scanned repository's)."""
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    configs = (
        [os.environ["GIT_CONFIG_GLOBAL"]]
        if os.environ.get("GIT_CONFIG_GLOBAL")
        else [os.path.join(xdg, "git", "config"), os.path.expanduser("~/.gitconfig")]
    )
    from dulwich.config import ConfigFile

    for path in reversed(configs):  # ~/.gitconfig wins over the XDG file, as in git
        data = read_regular(path, 1 << 20, follow=True)
        if data is None:
            continue
        try:
            value = ConfigFile.from_file(io.BytesIO(data), expand_includes=False).get(
                (b"core",), b"excludesFile"
            )
        except Exception:  # noqa: S112 - an unparsable user config gives no excludes file
            continue
        if value:
            return os.path.expanduser(os.fsdecode(value))
    return os.path.join(xdg, "git", "ignore")


def _lookup(data: bytes, shown: str, notes: list[str], budget: _Budget) -> _Lookup | None:
    """The rules of one ignore file, or None (and a note) when it has more than MAX_TRIED_PATTERNS
    patterns with wildcards (tried on every entry), or would bring the listing's ignore files past
    MAX_WILDCARDS of them in all. They are counted before any is compiled."""
    from dulwich.ignore import read_ignore_patterns

    lines = list(read_ignore_patterns(_ignore_lines(data)))
    wild = sum(_plain(line) is None for line in lines)
    if wild > MAX_TRIED_PATTERNS or budget.wildcards + wild > MAX_WILDCARDS:
        why = (
            f"more than {MAX_TRIED_PATTERNS:,}"
            if wild > MAX_TRIED_PATTERNS
            else f"the ignore files read before hold {budget.wildcards:,}; more than {MAX_WILDCARDS:,} in all"
        )
        notes.append(
            f"{shown}: {wild:,} ignore patterns with wildcards ({why}) not applied: its files are "
            "listed as if it were empty"
        )
        return None
    budget.wildcards += wild
    return _Lookup(lines, shown)


def ignore_rules(
    top: str, gitdir: str | None, notes: list[str] | None = None, budget: _Budget | None = None
) -> IgnoreFilterManager:
    """The ignore rules of the work tree at ``top``, as ``git ls-files --exclude-standard`` uses them;
    an ignore file not applied is named in ``notes`` (as the rules are read, lazily). Their pattern
    tries are counted in ``budget`` (shared by the submodules of one listing), which raises
    :class:`TooManyTries` when they are too many for the entries met. With no ``gitdir`` (one outside
    the work tree, not read) there is no ``info/exclude``: the tree's ``.gitignore`` files and the
    user's global excludes only."""
    notes = [] if notes is None else notes
    budget = budget or _Budget()
    lookups = []
    sources = [(_user_excludes_file(), True)]
    if gitdir is not None:
        sources.insert(0, (os.path.join(_common_dir(gitdir), "info", "exclude"), False))
    for path, follow in sources:
        data = read_regular(path, MAX_IGNORE_BYTES, follow=follow)
        if data is not None and (lookup := _lookup(data, path, notes, budget)) is not None:
            lookups.append(lookup)
    manager: IgnoreFilterManager = _ignores_class()(top, lookups, notes, budget)
    return manager


@dataclass
class Listing:
    """What a git work tree holds under a folder: file names (``os.fsdecode`` text relative to the
    folder) and the folders that could not be read."""

    names: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (relative folder, strerror)
    notes: list[str] = field(default_factory=list)  # ignore files not applied, and why
    tries: int = 0  # the ignore patterns tried (see MAX_TRIES)
    #: ``git`` (the index and the ignore rules) or ``gitignore`` (a git directory outside the work
    #: tree, not read: every file not ignored by the tree's own ignore files, none "tracked")
    kind: str = "git"


def list_work_tree(root: str, prune: Callable[[str, str], bool] | None = None) -> Listing | None:
    """Tracked plus untracked-not-ignored files under ``root``, or None when ``root`` is in no git work
    tree or is itself ignored by the enclosing one (such a folder is walked, not listed).

    ``prune(rel, full)`` may refuse a folder (relative to root) before it is walked for untracked files.
    A work tree whose git directory lies outside it (:class:`GitDirOutside`: a linked worktree, or a
    pointer planted to borrow another repository's index and ignore rules) is listed without reading
    it: the files its own ignore files do not exclude (``kind`` ``gitignore``, with a note).
    Raises :class:`DamagedIndex` when the index cannot be trusted, and :class:`TooManyTries` (of its
    kind) when the ignore rules cost more pattern tries than the entries met allow.
    """
    found = _search(root)
    if found is None:
        return None
    top, gitdir = found
    prefix = "" if top == root else os.path.relpath(root, top).replace(os.sep, "/")
    if ".git" in prefix.split("/"):
        return None  # a folder inside the git directory: not part of the work tree
    listing = Listing()
    readable = None if isinstance(gitdir, GitDirOutside) else gitdir
    if isinstance(gitdir, GitDirOutside):
        # a linked worktree (or a hostile pointer): nothing outside is read, but the tree's own
        # .gitignore files still keep its virtualenvs and build outputs out, as git would
        listing.kind = "gitignore"
        listing.notes.append(
            f"{gitdir}; listed by the work tree's own ignore files instead (no file counts as tracked)"
        )
    rules: Any = ignore_rules(top, readable, listing.notes)
    if prefix and rules.is_ignored(prefix + "/"):
        return None
    _list(top, readable, prefix, rules, listing, "", prune or (lambda _r, _f: False), 0, top)
    listing.names.sort()
    listing.tries = rules.budget.tries
    if len(listing.notes) > MAX_NOTES:  # one per ignore file not applied: a repository makes any number
        more = len(listing.notes) - MAX_NOTES
        listing.notes[MAX_NOTES:] = [f"and {more:,} more notes of the listing like these"]
    return listing


def _list(
    top: str,
    gitdir: str | None,
    prefix: str,
    rules: Any,
    out: Listing,
    shown: str,
    prune: Callable[[str, str], bool],
    depth: int,
    bound: str,
) -> None:
    """List the work tree at ``top`` below ``prefix``; names get ``shown`` in front (submodules), whose
    git directories must lie inside ``bound`` (the outermost work tree: ``.git/modules/...``). With no
    ``gitdir`` (one outside the work tree, not read) nothing is tracked: every file is untracked."""
    tracked, modules = read_index(gitdir) if gitdir is not None else (set(), set())
    cut = len(prefix) + 1 if prefix else 0
    under = (prefix + "/") if prefix else ""
    out.names.extend(shown + p[cut:] for p in tracked if p.startswith(under))
    for sub in sorted(m for m in modules if m.startswith(under)):
        folder = os.path.join(top, sub)
        rel = shown + sub[cut:]
        try:
            subgit = git_dir_of(folder, bound)
        except GitDirOutside as exc:
            out.notes.append(f"submodule {rel}: {exc}; its files are not listed")
            continue
        if subgit is None or depth >= _MAX_SUBMODULE_DEPTH or prune(rel, folder):
            continue  # a submodule that is not checked out holds nothing
        rules_of = ignore_rules(folder, subgit, out.notes, rules.budget)
        _list(folder, subgit, "", rules_of, out, rel + "/", prune, depth + 1, bound)
    _untracked(top, prefix, rules, tracked, modules, out, shown, prune)


def _nested(folder: str, top: str, shown: str, notes: list[str]) -> bool:
    """Is ``folder`` a nested repository, which git does not enter? Only when its ``.git`` is a git
    directory or a ``gitdir:`` file naming one, as git decides: any ``.git`` entry made a folder's
    files vanish from the listing (a file of garbage in each folder hid the whole tree, with no note,
    where git lists them). One naming a git directory outside the work tree is not looked at: the
    folder is left out, with a note."""
    if not os.path.lexists(os.path.join(folder, ".git")):
        return False
    try:
        return git_dir_of(folder, top) is not None
    except GitDirOutside as exc:
        notes.append(f"folder {shown}: {exc}; its files are not listed (a nested repository's)")
        return True


def _untracked(
    top: str,
    prefix: str,
    rules: Any,
    tracked: set[str],
    modules: set[str],
    out: Listing,
    shown: str,
    prune: Callable[[str, str], bool],
) -> None:
    cut = len(prefix) + 1 if prefix else 0
    stack = [prefix]
    while stack:
        rel_dir = stack.pop()
        full_dir = os.path.join(top, rel_dir) if rel_dir else top
        try:
            entries = list(os.scandir(full_dir))
        except OSError as exc:
            out.unreadable.append(((shown + rel_dir[cut:]).rstrip("/") or ".", exc.strerror or str(exc)))
            continue
        rules.budget.entries += len(entries)
        # every folder on the stack has no excluded folder above it (nor is one): the start was
        # checked by list_work_tree, the others by the test below
        for entry in entries:
            if entry.name == ".git":
                continue
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                # dulwich's own test (a link to a folder counts as one for folder-only patterns)
                followed = is_dir or (entry.is_symlink() and os.path.isdir(entry.path))
            except OSError:
                is_dir = followed = False
            if is_dir:
                if rel in modules or _nested(entry.path, top, shown + rel[cut:], out.notes):
                    continue  # a submodule (listed from its own index) or a nested repository
                if prune(shown + rel[cut:], entry.path) or rules.excluded(rel + "/", True):
                    continue
                stack.append(rel)
            elif rel not in tracked and not rules.excluded(rel, followed):
                out.names.append(shown + rel[cut:])


__all__ = [
    "DamagedIndex",
    "GitDirOutside",
    "Listing",
    "TooManyTries",
    "find_work_tree",
    "git_dir_of",
    "ignore_rules",
    "list_work_tree",
    "read_index",
    "read_regular",
]
