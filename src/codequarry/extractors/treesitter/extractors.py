"""One file extractor per tree-sitter language, and one code-units extractor per language.

``treesitter.<language>`` fills ``definitions``, ``source_imports`` and ``source_calls`` and reports
ERROR and MISSING nodes as ``errors`` rows (kind ``syntax``) without giving up the rest of the file.
Its version is the version of the language's query pack, so a new pack re-runs that language alone.
``units.<language>`` (opt-in: ``--select units``) fills ``code_units`` from the same parse.
"""

from __future__ import annotations

from typing import Any

from codequarry.api import FileExtractor, file_extractor
from codequarry.extractors.treesitter.datasets import Definition, SourceCall, SourceImport
from codequarry.extractors.treesitter.facts import Facts, facts_of, text_budget, too_much_text
from codequarry.extractors.treesitter.grammars import GRAMMARS, pack_version
from codequarry.extractors.units import CodeUnit, leading_comment
from codequarry.source import SourceFile

UNITS_VERSION = 1  # added to the pack version: the code-units rows change with either


def _definitions_extractor(language: str) -> FileExtractor:
    @file_extractor(
        f"treesitter.{language}",
        version=pack_version(language),
        needs=[],
        languages=[language],
        outputs=[Definition, SourceImport, SourceCall],
        description=f"{language} through tree-sitter: definitions, imports, calls, syntax errors",
    )
    def extract(src: SourceFile, out: Any) -> None:
        facts = facts_of(src)
        if facts is None:
            return
        lang = facts.language
        span = facts.span
        add = out.definitions.add
        for d in facts.definitions:
            line, col, end_line, end_col = span(d.node)
            add(
                language=lang,
                kind=d.kind,
                name=d.name,
                qualname=d.qualname,
                container=d.container,
                line=line,
                col=col,
                end_line=end_line,
                end_col=end_col,
            )
        add = out.source_imports.add
        for node, kind, module, scope in facts.imports:
            line, col, end_line, end_col = span(node)
            add(
                language=lang,
                kind=kind,
                module=module,
                scope=scope,
                line=line,
                col=col,
                end_line=end_line,
                end_col=end_col,
            )
        add = out.source_calls.add
        for node, callee, scope in facts.calls:
            line, col, end_line, end_col = span(node)
            add(
                language=lang,
                callee=callee,
                scope=scope,
                line=line,
                col=col,
                end_line=end_line,
                end_col=end_col,
            )
        _report(facts, out)

    return extract


def _report(facts: Facts, out: Any) -> None:
    lines = (facts.parsed or facts.data).split(b"\n") if facts.problems else []
    for kind, message, node in facts.problems:
        row, byte_col = node.start_point
        source_line = lines[row].decode("utf-8", "replace")[:500] if row < len(lines) else None
        out.error(
            kind, message, line=row + 1, column=facts.col(byte_col, node.start_byte), source_line=source_line
        )


def _units_extractor(language: str) -> FileExtractor:
    @file_extractor(
        f"units.{language}",
        version=pack_version(language) * 1000 + UNITS_VERSION,
        needs=[],
        languages=[language],
        outputs=[CodeUnit],
        default=False,
        description=f"the source text and leading comment of every {language} definition",
    )
    def units(src: SourceFile, out: Any) -> None:
        facts = facts_of(src)
        if facts is None:
            return
        budget, made = text_budget(facts.data), 0
        for d in facts.definitions:  # checked before any row: a refused file gives none
            made += d.node.end_byte - d.node.start_byte
            if made > budget:
                failure = too_much_text("source texts", budget, d.node.start_point[0] + 1)
                out.error(failure.kind, failure.message, line=failure.line)
                return
        for d in facts.definitions:
            node = d.node
            out.code_units.add(
                language=facts.language,
                kind=d.kind,
                name=d.name,
                qualname=d.qualname,
                line=node.start_point[0] + 1,
                end_line=node.end_point[0] + 1,
                docstring=leading_comment(facts.data, node),
                source=facts.text(node),
            )

    return units


javascript = _definitions_extractor("javascript")
typescript = _definitions_extractor("typescript")
go = _definitions_extractor("go")
rust = _definitions_extractor("rust")
java = _definitions_extractor("java")
c = _definitions_extractor("c")
cpp = _definitions_extractor("cpp")
csharp = _definitions_extractor("csharp")
ruby = _definitions_extractor("ruby")
php = _definitions_extractor("php")
spthy = _definitions_extractor("spthy")

units_javascript = _units_extractor("javascript")
units_typescript = _units_extractor("typescript")
units_go = _units_extractor("go")
units_rust = _units_extractor("rust")
units_java = _units_extractor("java")
units_c = _units_extractor("c")
units_cpp = _units_extractor("cpp")
units_csharp = _units_extractor("csharp")
units_ruby = _units_extractor("ruby")
units_php = _units_extractor("php")
units_spthy = _units_extractor("spthy")

assert set(GRAMMARS) == {name for name in GRAMMARS if name in globals()}, "one extractor per grammar"
