"""The fallback parse: tree-sitter-python, converted into an ``ast.Module``, for newer syntax.

A file reaches here only when the running ``ast.parse`` rejected it. Three outcomes:
- tree-sitter recognises a construct of a newer Python (PEP 695, 696, 701, 750, 758) and parses the
  rest cleanly: the file is "newer syntax"; its converted tree is returned with the constructs found,
  the minimum Python version, and what the 3.11 tree approximates;
- tree-sitter finds an error of its own (ERROR or MISSING nodes a newer construct does not explain),
  or the tree holds Python 2 syntax: the file stays a syntax error, with a version hint if a newer
  construct was seen;
- tree-sitter parses cleanly but finds nothing newer: an error tree-sitter is lenient about
  (``return`` outside a function, ``f() = 1``); it stays a syntax error and nothing is converted.
"""

from __future__ import annotations

import ast
import functools
import sys
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from codequarry.pyparse.base import PYTHON2, Context, Note, Unsupported
from codequarry.pyparse.convert import Converter
from codequarry.pyparse.features import recognise

PARSER_AST = "ast"
RUNNING = sys.version_info[:2]


@dataclass(frozen=True)
class Fallback:
    """A tree built by the fallback parser: the newer constructs found and what the tree approximates."""

    tree: ast.Module
    parser: str
    found: tuple[Note, ...]
    approximated: tuple[Note, ...]

    @property
    def since(self) -> tuple[int, int]:
        return since(self.found)

    def partial_rows(self) -> list[tuple[int, int, str]]:
        """(line, column, message) of one errors row of kind ``partial`` per approximated construct."""
        groups: dict[str, list[Note]] = {}
        for note in self.approximated:
            groups.setdefault(note.construct, []).append(note)
        rows = []
        for construct, notes in groups.items():
            first = notes[0]
            times = f" ({len(notes)} times, first here)" if len(notes) > 1 else ""
            rows.append(
                (
                    first.line,
                    first.column,
                    f"{construct}: {first.approximated}{times}; the file is {version_hint(self.found)}, "
                    f"so its facts come from {self.parser}",
                )
            )
        return rows


class NotNewer(Exception):
    """The fallback cannot give this file's tree; ``found`` lists the newer constructs seen anyway."""

    def __init__(self, reason: str, line: int | None = None, found: tuple[Note, ...] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line
        self.found = found


def since(notes: tuple[Note, ...] | list[Note]) -> tuple[int, int]:
    """The first Python version whose grammar accepts every construct noted."""
    return max((n.since for n in notes), default=(3, 0))


def version_hint(found: tuple[Note, ...] | list[Note], *, valid: bool = True) -> str | None:
    """'valid in Python 3.12+ (type alias statement (PEP 695), line 3); this quarry runs on 3.11', or
    with ``valid=False`` (the file has another error too) 'uses Python 3.12+ syntax (...)'."""
    if not found:
        return None
    first = max(found, key=lambda n: (n.since, -n.line))
    need = ".".join(map(str, first.since))
    running = ".".join(map(str, RUNNING))
    where = f"({first.construct}, line {first.line})"
    head = f"valid in Python {need}+ {where}" if valid else f"uses Python {need}+ syntax {where}"
    return f"{head}; this quarry runs on {running}"


@functools.cache
def _parser() -> Any:
    import tree_sitter
    import tree_sitter_python

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_python.language()))


@functools.cache
def parser_name() -> str:
    """``tree-sitter-python <version>``: the value of ``modules.parser`` for fallback trees."""
    return f"tree-sitter-python {metadata.version('tree-sitter-python')}"


def parse_newer(text: str) -> Fallback:
    """The tree of a file the running parser rejected, if it is valid newer Python; else NotNewer."""
    data = text.encode("utf-8")
    try:
        root = _parser().parse(data).root_node
    except ImportError:  # pragma: no cover - tree-sitter-python is a core dependency
        raise NotNewer("the fallback parser needs: pip install tree-sitter tree-sitter-python") from None
    notes, unexplained = recognise(root)
    found = tuple(notes)
    if unexplained:
        line = unexplained[0].start_point[0] + 1
        raise NotNewer(f"tree-sitter-python also finds a syntax error at line {line}", line, found)
    if not found:
        raise NotNewer("no construct of a newer Python found", None, found)
    module, approximated = _convert(root, data, found)
    return Fallback(module, parser_name(), found, approximated)


def convert(text: str) -> tuple[ast.Module, tuple[Note, ...]]:
    """Convert any file tree-sitter parses cleanly (what the equivalence tests force on the stdlib)."""
    data = text.encode("utf-8")
    root = _parser().parse(data).root_node
    if root.has_error:
        raise NotNewer("tree-sitter-python finds a syntax error")
    return _convert(root, data, ())


def _convert(root: Any, data: bytes, found: tuple[Note, ...]) -> tuple[ast.Module, tuple[Note, ...]]:
    cx = Context(data)
    try:
        module = Converter(cx).module(root)
    except Unsupported as exc:
        if str(exc).startswith(PYTHON2):  # in Python 2 code, ``except E, e:`` is no sign of PEP 758
            found = tuple(n for n in found if "PEP 758" not in n.construct)
        raise NotNewer(str(exc), exc.line, found) from None
    except RecursionError:
        raise NotNewer("nesting too deep for the converter", None, found) from None
    except Exception as exc:  # a tree shape the converter does not know (``0L``): the file's loss only
        raise NotNewer(f"the converter cannot read it ({type(exc).__name__}: {exc})", None, found) from None
    _check_shape(module, found)
    return module, tuple(cx.notes)


def _check_shape(module: ast.Module, found: tuple[Note, ...]) -> None:
    """Refuse a tree ``ast`` itself would refuse: CPython's validator runs when a tree is compiled
    (compiled to bytecode and dropped, never run). A scope error (``return`` outside a function) is
    the source's own and leaves the tree well-formed."""
    try:
        compile(module, "<fallback>", "exec", dont_inherit=True)
    except SyntaxError:
        return
    except (ValueError, TypeError, SystemError, RecursionError) as exc:
        raise NotNewer(f"the converter made a tree ast refuses ({exc})", None, found) from None
