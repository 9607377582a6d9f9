"""The languages tree-sitter covers here: their grammar wheels, query packs and naming conventions.

Each language has one grammar wheel from PyPI (``tree-sitter-javascript``, ...: compiled grammars that
work offline) and one query pack, ``queries/<language>.scm``, whose first line says its version
(``; pack-version: N``). The pack version is the extractor's version, so editing a pack and bumping
its version re-runs that language's extractor alone, on that language's files alone.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from codequarry.errors import DeclarationError

QUERIES = Path(__file__).with_name("queries")
_VERSION = re.compile(r"^;\s*pack-version:\s*(\d+)\s*$")


@dataclass(frozen=True)
class Grammar:
    """One language: where its grammar lives and how it spells qualified names."""

    language: str  # the value of files.language
    module: str  # the grammar wheel's import name
    function: str = "language"  # the wheel's function returning the language pointer
    sep: str = "."  # between an enclosing definition and a member: Outer.inner, Type::method
    package_sep: str = "."  # between the package / namespace and the rest
    by_suffix: tuple[tuple[str, str], ...] = ()  # (file suffix, other function): .tsx -> language_tsx
    wheel: str = ""  # the PyPI distribution, for the install hint


GRAMMARS: dict[str, Grammar] = {
    g.language: g
    for g in (
        Grammar("javascript", "tree_sitter_javascript", wheel="tree-sitter-javascript"),
        Grammar(
            "typescript",
            "tree_sitter_typescript",
            "language_typescript",
            by_suffix=((".tsx", "language_tsx"),),
            wheel="tree-sitter-typescript",
        ),
        Grammar("go", "tree_sitter_go", wheel="tree-sitter-go"),
        Grammar("rust", "tree_sitter_rust", sep="::", package_sep="::", wheel="tree-sitter-rust"),
        Grammar("java", "tree_sitter_java", wheel="tree-sitter-java"),
        Grammar("c", "tree_sitter_c", wheel="tree-sitter-c"),
        Grammar("cpp", "tree_sitter_cpp", sep="::", package_sep="::", wheel="tree-sitter-cpp"),
        Grammar("csharp", "tree_sitter_c_sharp", wheel="tree-sitter-c-sharp"),
        Grammar("ruby", "tree_sitter_ruby", sep="::", package_sep="::", wheel="tree-sitter-ruby"),
        Grammar(
            "php", "tree_sitter_php", "language_php", sep="::", package_sep="\\", wheel="tree-sitter-php"
        ),
        Grammar("spthy", "tree_sitter_spthy", wheel="py-tree-sitter-spthy"),
    )
}


class MissingGrammar(Exception):
    """The grammar wheel is not installed (only the optional Tamarin one can be)."""


def pack_text(language: str) -> str:
    return (QUERIES / f"{language}.scm").read_text(encoding="utf-8")


def pack_version(language: str) -> int:
    """The version on the first line of the language's query pack."""
    first = pack_text(language).split("\n", 1)[0]
    m = _VERSION.match(first)
    if not m:
        raise DeclarationError(f"query pack {language}.scm must start with '; pack-version: N'")
    return int(m.group(1))


@cache
def ts_language(language: str, function: str | None = None) -> Any:
    """The tree_sitter.Language of a grammar (loaded once per process)."""
    import tree_sitter

    g = GRAMMARS[language]
    try:
        mod = importlib.import_module(g.module)
    except ImportError:
        raise MissingGrammar(f"the {language} grammar is not installed: pip install {g.wheel}") from None
    ptr = getattr(mod, function or g.function)()
    return ptr if isinstance(ptr, tree_sitter.Language) else tree_sitter.Language(ptr)


def grammar_function(language: str, path: str) -> str:
    """Which of the wheel's languages parses ``path`` (TSX files need the TSX dialect)."""
    g = GRAMMARS[language]
    lower = path.lower()
    for suffix, function in g.by_suffix:
        if lower.endswith(suffix):
            return function
    return g.function


SECTIONS = ("; --- imports", "; --- calls")


@dataclass(frozen=True)
class Pack:
    """A language's parser and compiled queries: definitions, imports and calls are separate
    sections of the pack (``; --- imports``, ``; --- calls``), so each runs as its own query and
    the definitions alone cost what an indexer like ctags does. A missing section is None."""

    parser: Any
    definitions: Any
    imports: Any
    calls: Any
    problems: Any
    definitions_and_imports: Any  # both sections in one query: one pass over the tree, not two


@cache
def compiled(language: str, function: str) -> Pack:
    """The language's Pack for one grammar dialect, built once per process."""
    import tree_sitter

    lang = ts_language(language, function)
    text = pack_text(language)
    parts: dict[str, str] = {}
    rest = text
    for marker in reversed(SECTIONS):
        rest, found, section = rest.partition(marker)
        if found:
            parts[marker] = section.split("\n", 1)[1] if "\n" in section else ""

    def query(source: str | None) -> Any:
        return tree_sitter.Query(lang, source) if source and source.strip() else None

    imports = parts.get(SECTIONS[0])
    return Pack(
        parser=tree_sitter.Parser(lang),
        definitions=query(rest),
        imports=query(imports),
        calls=query(parts.get(SECTIONS[1])),
        problems=tree_sitter.Query(lang, "(ERROR) @error (MISSING) @missing"),
        definitions_and_imports=query(rest + "\n" + (imports or "")),
    )
