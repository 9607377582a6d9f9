"""SourceFile: one file read once, decoded as Python does, parsed lazily, traversed once.

Every extractor that runs on a file shares its SourceFile. Parse products (``text``, ``tree``,
``symtable``, ``cst``) are computed on first use and cached; the node index is built by a single
traversal of the AST, and ``nodes(ast.Call)`` / ``parent(node)`` answer from it.
"""

from __future__ import annotations

import ast
import bisect
import io
import re
import time
import tokenize
import typing
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from codequarry.generated import generated_kind

#: node types never indexed: context and operator singletons, shared between parents
_SKIP: frozenset[type] = frozenset(
    t
    for t in vars(ast).values()
    if isinstance(t, type)
    and issubclass(t, ast.expr_context | ast.operator | ast.unaryop | ast.boolop | ast.cmpop)
)
#: Python < 3.13 does not say which fields hold nodes; these never do (identifiers, numbers, flags,
#: operator singletons), whatever the class
_LEAF_FIELDS = frozenset(
    {
        "ctx",
        "op",
        "ops",
        "id",
        "attr",
        "arg",
        "asname",
        "kind",
        "type_comment",
        "is_async",
        "conversion",
        "simple",
        "level",
        "module",
        "tag",
        "lineno",
    }
)
#: ... and these are plain strings in these classes only (a TypeAlias's ``name`` is a node)
_STR_FIELDS: dict[type, frozenset[str]] = {
    **{
        t: frozenset({"name"})
        for t in (
            ast.FunctionDef,
            ast.AsyncFunctionDef,
            ast.ClassDef,
            ast.alias,
            ast.ExceptHandler,
            ast.MatchAs,
            ast.MatchStar,
        )
    },
    **{
        t: frozenset({"name"})
        for t in (getattr(ast, n, None) for n in ("TypeVar", "ParamSpec", "TypeVarTuple"))
        if t is not None
    },
    ast.MatchMapping: frozenset({"rest"}),
    ast.MatchClass: frozenset({"kwd_attrs"}),
}
_NO_CHILDREN: frozenset[type] = frozenset({ast.Constant, ast.MatchSingleton, ast.Global, ast.Nonlocal})
_SINGLETON_BASES = (ast.expr_context, ast.operator, ast.unaryop, ast.boolop, ast.cmpop)
_PLANS: dict[type, tuple[str, ...]] = {}
_NON_ASCII = re.compile(r"[^\x00-\x7f]")  # characters of more than one UTF-8 byte


def _holds_nodes(annotation: Any) -> bool:
    """Whether a field annotated so (``ast.expr | None``, ``list[ast.stmt]``, ``str``) can hold a node."""
    if isinstance(annotation, type):
        return issubclass(annotation, ast.AST) and not issubclass(annotation, _SINGLETON_BASES)
    return any(_holds_nodes(arg) for arg in typing.get_args(annotation))


def _child_fields(cls: type) -> tuple[str, ...]:
    """The fields of ``cls`` that can hold child nodes, reversed (the order the index pushes them).

    Such a field holds a node, None, or a list of nodes and Nones, so the index needs no type checks.
    """
    if not (isinstance(cls, type) and issubclass(cls, ast.AST)):
        raise TypeError(
            f"the node index met a {cls.__name__} in an AST field: its field tables need updating"
        )
    field_types = getattr(cls, "_field_types", None)  # Python 3.13+
    if field_types is not None:
        fields = [f for f in cls._fields if _holds_nodes(field_types.get(f))]
    elif cls in _NO_CHILDREN:
        fields = []
    else:
        strs = _STR_FIELDS.get(cls, frozenset())
        fields = [f for f in cls._fields if f not in _LEAF_FIELDS and f not in strs]
    plan = tuple(reversed(fields))
    _PLANS[cls] = plan
    return plan


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_SCOPE_TYPES = frozenset(_SCOPES)


def enclosing_scope(parent: Callable[[Any], Any], node: Any) -> Any:
    """The innermost function, class or lambda enclosing ``node`` along ``parent`` (a file's
    ``parents.get``; None at module level): :meth:`SourceFile.scope_of`, for holders of the parent
    links that must not hold the file itself."""
    anc = parent(node)
    while anc is not None and anc.__class__ not in _SCOPE_TYPES:
        anc = parent(anc)
    return anc


#: parse products whose failure costs the whole file; any other product's failure (symtable,
#: bytecode, cst) costs only the extractors that need it, and is recorded under their names
FILE_PRODUCTS = frozenset({"text", "ast"})
#: the ``optimize`` level of the ``bytecode`` product: 0 keeps asserts and docstrings, and unlike -1
#: does not depend on the interpreter's -O flag
BYTECODE_OPTIMIZE = 0
#: the deepest syntax tree handed to LibCST (see SourceFile._refuse_deep_cst); real code stays far below
CST_MAX_DEPTH = 400


class ParseFailure(Exception):
    """The file could not be decoded or parsed; ``kind`` is an errors-table kind, ``product`` the
    parse product that failed."""

    def __init__(
        self,
        kind: str,
        message: str,
        line: int | None = None,
        column: int | None = None,
        source_line: str | None = None,
        product: str = "ast",
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.line = line
        self.column = column
        self.source_line = source_line
        self.product = product


#: the message of a ``memory_limit`` error row, whoever stopped the file (the engines, the worker)
MEMORY_MESSAGE = "ran out of memory (over the worker memory limit, see --max-memory-per-worker)"


def _peak_reset() -> bool:
    """Under an address-space limit (a worker's memory limit), restart this process's resident peak
    (VmHWM), so that a MemoryError of what follows can be judged (:func:`_out_of_memory`); False
    when no such limit is set (nothing to judge) or the peak cannot be reset."""
    import resource

    if resource.getrlimit(resource.RLIMIT_AS)[0] == resource.RLIM_INFINITY:
        return False
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def _out_of_memory(exc: BaseException, limited: bool) -> bool:
    """Was ``exc`` the address-space limit, not the parser's own bound? CPython 3.10-3.11 raise a
    MemoryError past 6,000 levels of nesting (``-`` repeated), with little memory used; a parse
    stopped at the limit (a 4 MB dict literal under 200 MB) raises the same. It was the limit when
    the resident peak since ``_peak_reset`` grew by at least half of what the limit leaves free."""
    if not limited or not isinstance(exc, MemoryError):
        return False
    import resource

    soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    try:
        with open("/proc/self/status", "rb") as fh:
            status = {
                k: int(v.split()[0]) * 1024
                for k, _, v in (line.partition(b":") for line in fh)
                if k in (b"VmHWM", b"VmRSS", b"VmSize")
            }
        return status[b"VmHWM"] - status[b"VmRSS"] >= (soft - status[b"VmSize"]) // 2
    except (OSError, KeyError, ValueError, IndexError):
        return False


def decode_python(data: bytes) -> str:
    """Decode Python source as the interpreter does: BOM, PEP 263 cookie, universal newlines."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        raise ParseFailure("decode", str(exc)) from None
    try:
        text = data.decode(encoding)
    except (ValueError, LookupError) as exc:  # ValueError: UnicodeError too ("coding: undefined")
        line = data.count(b"\n", 0, exc.start) + 1 if isinstance(exc, UnicodeDecodeError) else None
        raise ParseFailure("decode", f"cannot decode as {encoding}: {exc}", line=line) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


class SourceFile:
    """A file as extractors see it. Attributes are plain; parse products are lazy properties."""

    traversals = 0  # class-wide count of node-index builds; tests use it to prove "walk once"
    #: class-wide count of parse products computed, by product: tests prove "lazy and shared" with it
    computed: ClassVar[Counter[str]] = Counter()

    def __init__(
        self,
        *,
        repo: str,
        path: str,
        data: bytes | None,
        sha256: str | None,
        size: int,
        language: str | None,
        mtime_ns: int = 0,
        module: str | None = None,
        is_package: bool = False,
        line_count: int | None = None,
    ) -> None:
        self.repo = repo
        self.path = path
        self.data = data
        self.sha256 = sha256
        self.size = size
        self.mtime_ns = mtime_ns
        self.language = language
        self.module = module
        self.is_package = is_package
        self.line_count = line_count
        self._text: str | None = None
        self._lines: list[str] | None = None
        self._wide: dict[int, tuple[list[int], list[int]] | None] = {}  # see _wide_line
        self._tree: ast.Module | None = None
        self._failure: ParseFailure | None = None
        self._index: dict[type, list[ast.AST]] | None = None
        self._parents: dict[ast.AST, ast.AST] = {}
        self._qualnames: dict[ast.AST, str] = {}
        self._symtable: Any = None
        self._bytecode: Any = None
        self._cst: Any = None
        self._tokens: list[tokenize.TokenInfo] | None = None
        self.shared_seconds = 0.0  # time in the parse and the node index, for the run report
        #: time.monotonic() by which a cancellable parse (tree-sitter) gives up; None: no limit
        self.deadline: float | None = None
        #: which parser made ``tree``: "ast", or "tree-sitter-python <version>" for syntax newer than
        #: the running interpreter; ``newer`` then holds the fallback's findings (a pyparse Fallback)
        self.parser = "ast"
        self.newer: Any = None

    # -- parse products -------------------------------------------------------------------------
    @property
    def text(self) -> str:
        if self._text is None:
            if self.data is None:
                raise ParseFailure("too_large", "file content was not read")
            if self.language == "python":
                self._text = decode_python(self.data)
            else:
                try:
                    self._text = self.data.decode("utf-8").replace("\r\n", "\n")
                except UnicodeDecodeError as exc:
                    raise ParseFailure("decode", f"not UTF-8: {exc}") from None
        return self._text

    @property
    def generated(self) -> str | None:
        """Why this file is a minified build output ("name", "minified"), or None (generated.py)."""
        return generated_kind(self.path, self.language, self.size, self.line_count)

    @property
    def lines(self) -> list[str]:
        """Lines of ``text`` without their endings; ``lines[n - 1]`` is line n."""
        if self._lines is None:
            self._lines = self.text.split("\n")
        return self._lines

    @property
    def tree(self) -> ast.Module:
        """The module's AST, parsed once. Raises ParseFailure (kind 'syntax') when it cannot be."""
        if self._tree is None:
            if self._failure is not None:
                raise self._failure
            started = time.perf_counter()
            try:
                self._tree = self._parse()
            except ParseFailure as exc:
                self._failure = exc
                raise
            finally:
                self.shared_seconds += time.perf_counter() - started
        return self._tree

    @property
    def parsed(self) -> bool:
        """Was the module's AST parsed? (An extractor asked for ``tree`` and the parse succeeded.)"""
        return self._tree is not None

    def _parse(self) -> ast.Module:
        text = self.text
        if "\0" in text:
            line = text.count("\n", 0, text.index("\0")) + 1
            raise ParseFailure("syntax", "source contains a NUL byte", line=line)
        limited = _peak_reset()
        try:
            SourceFile.computed["ast"] += 1
            return ast.parse(text, filename=self.path, type_comments=False)
        except SyntaxError as exc:
            msg = exc.msg or "invalid syntax"
            src_line = (exc.text or "").rstrip("\n") or None
            failure = ParseFailure("syntax", msg, line=exc.lineno, column=exc.offset, source_line=src_line)
        except (RecursionError, MemoryError) as exc:
            if _out_of_memory(exc, limited):
                raise ParseFailure("memory_limit", MEMORY_MESSAGE) from None
            raise ParseFailure("syntax", f"nesting too deep for the parser ({type(exc).__name__})") from None
        except ValueError as exc:  # e.g. "source code string cannot contain null bytes"
            raise ParseFailure("syntax", str(exc)) from None
        if failure.message == "too many nested parentheses":
            # the tokenizer's limit (200 levels) in every Python since 3.9: no newer one parses it
            # either, and tree-sitter's query over 100,000 levels took minutes in C, where a
            # single-worker run's --file-timeout does not reach it until the query returns
            raise failure
        return self._parse_newer(text, failure)

    def _parse_newer(self, text: str, failure: ParseFailure) -> ast.Module:
        """The tree of a file the running ``ast`` rejects, when it is valid newer Python (see
        :mod:`codequarry.pyparse.fallback`); else ``failure``, told the version it needs if known."""
        from codequarry.pyparse.fallback import NotNewer, parse_newer, version_hint

        try:
            SourceFile.computed["ast-fallback"] += 1
            found = parse_newer(text)
        except NotNewer as exc:
            hint = version_hint(exc.found, valid=False)
            if hint:
                failure.message = f"{failure.message}; {hint}, and the fallback parser failed: {exc.reason}"
                failure.args = (failure.message,)
            raise failure from None
        self.parser = found.parser
        self.newer = found
        return found.tree

    @property
    def symtable(self) -> Any:
        if self._symtable is None:
            import symtable

            limited = _peak_reset()
            try:
                SourceFile.computed["symtable"] += 1
                self._symtable = symtable.symtable(self.text, self.path, "exec")
            except SyntaxError as exc:
                raise ParseFailure(
                    "syntax", f"symtable: {exc.msg}", line=exc.lineno, column=exc.offset, product="symtable"
                ) from None
            except (RecursionError, MemoryError, ValueError) as exc:
                if _out_of_memory(exc, limited):
                    raise ParseFailure("memory_limit", MEMORY_MESSAGE, product="symtable") from None
                raise ParseFailure("syntax", f"symtable: {exc}", product="symtable") from None
        return self._symtable

    @property
    def bytecode(self) -> Any:
        """The module's code object, compiled from the parsed tree (no second parse) with
        ``dont_inherit=True`` and ``optimize=BYTECODE_OPTIMIZE``; never executed."""
        if self._bytecode is None:
            tree = self.tree
            limited = _peak_reset()
            try:
                SourceFile.computed["bytecode"] += 1
                self._bytecode = compile(
                    tree, self.path, "exec", dont_inherit=True, optimize=BYTECODE_OPTIMIZE
                )
            except (
                SyntaxError
            ) as exc:  # what the parser accepts and the compiler does not: `return` at top...
                raise ParseFailure(
                    "syntax", f"compile: {exc.msg}", line=exc.lineno, column=exc.offset, product="bytecode"
                ) from None
            except (RecursionError, MemoryError, ValueError) as exc:
                if _out_of_memory(exc, limited):
                    raise ParseFailure("memory_limit", MEMORY_MESSAGE, product="bytecode") from None
                raise ParseFailure("syntax", f"compile: {exc}", product="bytecode") from None
        return self._bytecode

    @property
    def cst(self) -> Any:
        if self._cst is None:
            try:
                import libcst
            except ImportError:  # pragma: no cover - depends on the environment
                raise ParseFailure(
                    "extractor",
                    "the 'cst' parse product needs LibCST: pip install 'codequarry[cst]'",
                    product="cst",
                ) from None
            self._refuse_deep_cst()
            try:
                SourceFile.computed["cst"] += 1
                self._cst = libcst.parse_module(self.text)
            except Exception as exc:
                raise ParseFailure("syntax", f"libcst: {exc}", product="cst") from None
        return self._cst

    def _refuse_deep_cst(self) -> None:
        """Refuse, at once, a file nested deeper than LibCST can take: its recursive parser spends
        seconds on a few KB of ``f(1)(1)...`` before its visitors fail with RecursionError. The
        depth is read from the AST (a tree the parser rejected for its depth is refused the same
        way; any other parse failure is left for LibCST to report in its own words)."""
        try:
            tree = self.tree
        except ParseFailure as exc:
            if "too deep" in exc.message:
                raise ParseFailure("syntax", "libcst: nesting too deep for libcst", product="cst") from None
            return
        stack: list[tuple[ast.AST, int]] = [(tree, 1)]
        while stack:
            node, depth = stack.pop()
            if depth > CST_MAX_DEPTH:
                raise ParseFailure(
                    "syntax",
                    f"libcst: nesting too deep for libcst (syntax tree deeper than {CST_MAX_DEPTH})",
                    line=getattr(node, "lineno", None),
                    product="cst",
                )
            stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))

    @property
    def tokens(self) -> list[tokenize.TokenInfo]:
        if self._tokens is None:
            SourceFile.computed["tokens"] += 1
            try:
                self._tokens = list(tokenize.generate_tokens(io.StringIO(self.text).readline))
            except (tokenize.TokenError, SyntaxError) as exc:
                raise ParseFailure("syntax", f"tokenize: {exc}") from None
        return self._tokens

    # -- the node index ---------------------------------------------------------------------------
    def _build_index(self) -> dict[type, list[ast.AST]]:
        SourceFile.traversals += 1
        tree = self.tree
        started = time.perf_counter()
        index: dict[type, list[ast.AST]] = {}
        parents = self._parents
        plans = _PLANS
        stack: list[ast.AST] = [tree]
        pop = stack.pop
        push = stack.append
        # children are pushed last-first so that they pop in source order: each type's list is pre-order
        while stack:
            node = pop()
            tp = node.__class__
            bucket = index.get(tp)
            if bucket is None:
                index[tp] = [node]
            else:
                bucket.append(node)
            plan = plans.get(tp)
            if plan is None:
                plan = _child_fields(tp)
            for name in plan:
                value = getattr(node, name, None)
                if value.__class__ is list:
                    for child in reversed(value):
                        if child is not None:  # a dict display's ``**x`` has a None key
                            parents[child] = node
                            push(child)
                elif value is not None:
                    parents[value] = node
                    push(value)
        self._index = index
        self.shared_seconds += time.perf_counter() - started
        return index

    def nodes(self, *types: type) -> list[Any]:
        """Every node of the given AST types, each type's nodes in source (pre-)order."""
        index = self._index if self._index is not None else self._build_index()
        if len(types) == 1:
            return index.get(types[0], [])
        out: list[ast.AST] = []
        for tp in types:
            out.extend(index.get(tp, ()))
        return out

    @property
    def parents(self) -> dict[ast.AST, ast.AST]:
        """The node index's child -> parent mapping, for hot loops that climb many nodes. Read only."""
        if self._index is None:
            self._build_index()
        return self._parents

    def parent(self, node: ast.AST) -> ast.AST | None:
        if self._index is None:
            self._build_index()
        return self._parents.get(node)

    def ancestors(self, node: ast.AST) -> Iterator[ast.AST]:
        parents = self._parents if self._index is not None else (self._build_index(), self._parents)[1]
        node_ = parents.get(node)
        while node_ is not None:
            yield node_
            node_ = parents.get(node_)

    def scope_of(self, node: ast.AST) -> ast.AST | None:
        """The innermost function, class or lambda enclosing ``node`` (None at module level)."""
        scope: ast.AST | None = enclosing_scope(self.parents.get, node)
        return scope

    def qualname(self, node: ast.AST | None) -> str:
        """Qualified name of a def/class node as Python computes ``__qualname__`` ('' for the module)."""
        if node is None:
            return ""
        cached = self._qualnames.get(node)
        if cached is not None:
            return cached
        name = node.name if isinstance(node, _DEFS) else "<lambda>"
        outer = self.scope_of(node)
        if outer is None:
            qual = name
        elif isinstance(outer, ast.ClassDef):
            qual = f"{self.qualname(outer)}.{name}"
        else:
            qual = f"{self.qualname(outer)}.<locals>.{name}"
        self._qualnames[node] = qual
        return qual

    # -- source text ------------------------------------------------------------------------------
    def _char_col(self, lineno: int, col: int) -> int:
        """The character column of UTF-8 byte column ``col`` of line ``lineno`` (as ast counts)."""
        if not 0 < lineno <= len(self.lines):
            return col
        wide = self._wide_line(lineno - 1)
        if wide is None:
            return col
        starts, extra = wide
        return col - extra[bisect.bisect_left(starts, col)]

    def _wide_line(self, index: int) -> tuple[list[int], list[int]] | None:
        """None for an ASCII line; else the byte offsets where its non-ASCII characters start and
        the extra bytes of those before each (``extra[k]``: of the first k), made once per line.

        Columns are asked per node: re-encoding a long line for each one was quadratic (a 320 KB
        one-line file with one 'é' and 40,000 calls took minutes)."""
        cache = self._wide
        if index in cache:
            return cache[index]
        line = self.lines[index]
        found = None
        if not line.isascii():
            starts, extra, more = [], [0], 0
            for m in _NON_ASCII.finditer(line):
                starts.append(m.start() + more)
                more += len(m.group().encode("utf-8", "surrogatepass")) - 1
                extra.append(more)
            found = (starts, extra)
        cache[index] = found
        return found

    def span(self, node: Any) -> tuple[int, int, int, int]:
        """(line, col, end_line, end_col): lines from 1, columns from 0 in characters."""
        line = node.lineno
        end = node.end_lineno or line
        return (
            line,
            self._char_col(line, node.col_offset),
            end,
            self._char_col(end, node.end_col_offset or 0),
        )

    def segment(self, node: Any, limit: int | None = None) -> str:
        """The exact source text of a node (decorators, annotations, bases as written)."""
        lines = self.lines
        l0 = node.lineno - 1
        l1 = (node.end_lineno or node.lineno) - 1
        c0, c1 = node.col_offset, node.end_col_offset or 0
        a, b = self._char_col(l0 + 1, c0), self._char_col(l1 + 1, c1)
        text = lines[l0][a:b] if l0 == l1 else "\n".join([lines[l0][a:], *lines[l0 + 1 : l1], lines[l1][:b]])
        if limit is not None and len(text) > limit:
            return text[: limit - 3] + "..."
        return text

    def dotted(self, node: Any) -> str | None:
        """'a.b.c' for a Name/Attribute chain, else None."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name):
            parts.append(node.id)
            return ".".join(reversed(parts))
        return None

    def source_line(self, lineno: int | None) -> str | None:
        if not lineno:
            return None
        try:
            return self.lines[lineno - 1]
        except (IndexError, ParseFailure):
            return None
