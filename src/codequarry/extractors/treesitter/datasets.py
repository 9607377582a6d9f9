"""The tables every tree-sitter language fills, each row with its ``language``."""

from __future__ import annotations

from codequarry.schema import dataset


@dataset("definitions")
class Definition:
    """A function, method, class, struct, interface, trait, enum, type, namespace... of a file in a
    language other than Python (Python's are in ``functions`` and ``classes``)."""

    language: str
    kind: str
    name: str
    qualname: str  # package / namespace / enclosing definitions joined the language's way
    container: str  # the qualified name of what encloses it ('' at top level)
    line: int
    col: int
    end_line: int
    end_col: int


@dataset("source_imports")
class SourceImport:
    """An import of any tree-sitter language: import, export-from, require, use, #include, using."""

    language: str
    kind: str
    module: str  # as written, quotes and angle brackets stripped
    scope: str  # the enclosing definition's qualname ('' at top level)
    line: int
    col: int
    end_line: int
    end_col: int


@dataset("source_calls")
class SourceCall:
    """A call (or a Rust macro invocation, a `new`) in a tree-sitter language."""

    language: str
    callee: str  # as written: obj.method, pkg.Func, Foo::new, println!
    scope: str  # the enclosing definition's qualname ('' at top level)
    line: int
    col: int
    end_line: int
    end_col: int
