"""Which language a file is written in: by name first, by ``#!`` line next, by content last.

Detection is manifest-first and cheap. The scan decides from the file name alone (extension or a
special name such as ``Makefile``); only two cases read anything, and then at most a few KB:

- a file without a known extension gets its ``#!`` line read (``#!/usr/bin/env node`` -> javascript);
- an ambiguous extension (``.h``: C or C++) gets its first 16 KB sniffed for C++-only syntax
  (``class X {``, ``namespace``, ``template <``, ``std::``, access specifiers); C otherwise.
"""

from __future__ import annotations

import functools
import os
import re

EXTENSIONS: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".pyw": "python",
    ".pyx": "cython",
    ".pxd": "cython",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".tsx": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".c++": "cpp",
    ".hpp": "cpp",
    ".hh": "cpp",
    ".hxx": "cpp",
    ".h++": "cpp",
    ".ipp": "cpp",
    ".tpp": "cpp",
    ".inl": "cpp",
    ".rs": "rust",
    ".go": "go",
    ".java": "java",
    ".kt": "kotlin",
    ".scala": "scala",
    ".rb": "ruby",
    ".rake": "ruby",
    ".gemspec": "ruby",
    ".php": "php",
    ".phtml": "php",
    ".cs": "csharp",
    ".swift": "swift",
    ".m": "objective-c",
    ".lean": "lean",
    ".hs": "haskell",
    ".ml": "ocaml",
    ".ex": "elixir",
    ".exs": "elixir",
    ".erl": "erlang",
    ".lua": "lua",
    ".pl": "perl",
    ".pm": "perl",
    ".r": "r",
    ".jl": "julia",
    ".dart": "dart",
    ".sh": "shell",
    ".bash": "shell",
    ".zsh": "shell",
    ".ps1": "powershell",
    ".sql": "sql",
    ".html": "html",
    ".htm": "html",
    ".css": "css",
    ".scss": "css",
    ".md": "markdown",
    ".rst": "restructuredtext",
    ".txt": "text",
    ".json": "json",
    ".toml": "toml",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".xml": "xml",
    ".ini": "ini",
    ".cfg": "ini",
    ".spthy": "spthy",
    ".proto": "protobuf",
    ".graphql": "graphql",
    ".tf": "terraform",
}
SPECIAL_NAMES = {
    "Dockerfile": "dockerfile",
    "Makefile": "make",
    "CMakeLists.txt": "cmake",
    "Rakefile": "ruby",
    "Gemfile": "ruby",
}
SHEBANGS = {
    "python": "python",
    "python3": "python",
    "python2": "python",
    "pypy": "python",
    "pypy3": "python",
    "sh": "shell",
    "bash": "shell",
    "zsh": "shell",
    "dash": "shell",
    "node": "javascript",
    "nodejs": "javascript",
    "deno": "typescript",
    "ts-node": "typescript",
    "tsx": "typescript",
    "ruby": "ruby",
    "perl": "perl",
    "php": "php",
}
#: extensions whose language only the content can settle, and the sniffer that settles it
AMBIGUOUS = frozenset({".h"})
SNIFF_BYTES = 16384
# a line's own indentation only (not ``\s*``, which runs across newlines: from every line start of a
# head of blank lines it scanned to the end, 1.4 s per 16 KB ``.h`` file, in the parent process)
_CPP_ONLY = re.compile(
    rb"^[^\S\n]*(?:namespace\s+\w*\s*\{|template\s*<|(?:public|private|protected)\s*:|using\s+namespace\b"
    rb"|class\s+\w+(?:\s+final)?\s*(?::[^:]|\{))|\bstd::|#\s*include\s*<(?:iostream|string|vector|memory|map)>",
    re.MULTILINE,
)


@functools.lru_cache(maxsize=1 << 16)
def language_of(name: str) -> str | None:
    """Language from the file name alone (None when only the content can tell). Cached: a corpus of
    many repos repeats the same names (100 copies of the standard library: 245,000 files, 2,450
    names), and the answer depends on the name only."""
    special = SPECIAL_NAMES.get(name)
    if special:
        return special
    _, ext = os.path.splitext(name)
    return EXTENSIONS.get(ext.lower()) if ext else None


def is_ambiguous(name: str) -> bool:
    """Whether the name's language (from :func:`language_of`) is a guess the content should settle."""
    return os.path.splitext(name)[1].lower() in AMBIGUOUS


def language_of_shebang(head: bytes) -> str | None:
    """Language from a '#!' first line: '#!/usr/bin/env python3' -> python."""
    if not head.startswith(b"#!"):
        return None
    first = head[2:].split(b"\n", 1)[0].decode("latin-1").strip().split()
    if not first:
        return None
    prog = os.path.basename(first[0])
    if prog == "env":
        args = [a for a in first[1:] if not a.startswith("-")]
        prog = args[0] if args else ""
    prog = prog.rstrip("0123456789.") or prog
    return SHEBANGS.get(prog) or SHEBANGS.get(prog + "3")


def sniff_header(head: bytes) -> str:
    """C or C++ for a ``.h`` file, from syntax only C++ has."""
    return "cpp" if _CPP_ONLY.search(head) else "c"


def refine(root: str, path: str, name_language: str | None) -> str | None:
    """The language of the file ``path`` (stored form, relative to ``root``) when its name left it
    open: reads a little, at most :data:`SNIFF_BYTES`, and only for extension-less files and
    ambiguous extensions, through the safe open of :mod:`codequarry.corpus_io`."""
    return refine_read(root, path, name_language)[0]


def refine_read(root: str, path: str, name_language: str | None) -> tuple[str | None, os.stat_result | None]:
    """:func:`refine`, and the ``fstat`` of the file it read (None: it read nothing)."""
    from codequarry.corpus_io import open_corpus

    ambiguous = is_ambiguous(path)
    if name_language is not None and not ambiguous:
        return name_language, None
    try:
        fh, st = open_corpus(root, path)
        with fh:
            head = fh.read(SNIFF_BYTES if ambiguous else 128)
    except OSError:
        return name_language, None
    if ambiguous:
        return sniff_header(head), st
    return language_of_shebang(head), st


#: which tables each language's files fill (beyond ``files``, and ``blobs`` when selected); opt-in
#: tables are starred. The README and docs/tables/languages.md say the same, column by column.
_TREE_SITTER_TABLES = ("definitions", "source_imports", "source_calls", "code_units*")
COVERAGE: dict[str, tuple[str, ...]] = {
    "python": (
        "modules",
        "functions",
        "classes",
        "imports",
        "calls",
        "assignments",
        "routes",
        "orm_models",
        "validation_models",
        "tasks",
        "tests",
        "sql_strings",
        "env_reads",
        "security_findings",
        "code_units*",
    ),
    **{
        lang: _TREE_SITTER_TABLES
        for lang in ("javascript", "typescript", "go", "rust", "java", "c", "cpp", "csharp", "ruby", "php")
    },
    "spthy": ("definitions", "code_units*"),
}


def coverage_of(language: str | None) -> str:
    """A one-line answer to "what do I get for files of this language?"."""
    tables = COVERAGE.get(language or "")
    return ", ".join(tables) if tables else "files only (no parser for this language)"
