"""One file through tree-sitter: parse once (cancellable), run the language's query pack in C, and
turn its matches into definitions, imports, calls and syntax problems.

The query pack does the finding; Python only names what was found. Definitions and imports come
from ``QueryCursor.matches`` (a definition's node paired with its name), calls from
``QueryCursor.captures`` (one callee node per call, the call being its parent). Qualified names
come from one sweep over the matches in source order with a stack of enclosing definitions.
"""

from __future__ import annotations

import bisect
import re
import time
from dataclasses import dataclass, field
from typing import Any

from codequarry.extractors.treesitter.grammars import GRAMMARS, MissingGrammar, compiled, grammar_function
from codequarry.source import ParseFailure, SourceFile

#: definitions whose functions are methods, and whose names qualify their members
CLASSLIKE = frozenset(
    {"class", "struct", "interface", "trait", "enum", "record", "union", "impl", "module", "receiver"}
)
MAX_ERROR_ROWS = 50  # per file: a file that is mostly garbage says so in one more row, not thousands
MAX_CALLEE = 300
#: calls that import, when a pack captures the called name as @import_kind (packs use no text
#: predicates such as #eq?: they need the source text, which a cancellable callback parse does not keep)
IMPORT_FUNCTIONS = frozenset({"require", "require_relative", "load"})
#: deepest tree a file may have: tree-sitter's query cursor keeps a match's depth in 16 bits, so past
#: 65,535 levels it silently drops matches (a chain of 33,000 nested JavaScript functions gave 32,768
#: definitions) and its MISSING/ERROR search turns quadratic (200,000 nested C++ blocks: minutes)
MAX_DEPTH = 50_000
#: the text a file's definitions may make (qualified names here, source texts in ``code_units``),
#: as a multiple of the file's size plus a floor: each nested definition repeats the names (and the
#: text) of those around it, so n nested definitions make O(n^2) of it (a 270 KB file of 20,000
#: nested JavaScript functions held 1.6 GB of qualified names in its worker); ordinary code, a few
#: levels deep, makes a few times its size
TEXT_RATIO = 64
TEXT_FLOOR = 4 << 20


def text_budget(data: bytes) -> int:
    """How many characters of names (or of source text) the definitions of ``data`` may make."""
    return TEXT_RATIO * len(data) + TEXT_FLOOR


def too_much_text(what: str, budget: int, line: int) -> ParseFailure:
    """The ``limit`` failure of a file whose nested definitions would make more than ``budget``."""
    return ParseFailure(
        "limit",
        f"definitions nested so deep that their {what} would pass {budget:,} characters "
        f"({TEXT_RATIO} times the file's size, plus {TEXT_FLOOR >> 20} MB), so this file gives none",
        line=line,
    )


_LONE_CR = re.compile(rb"\r(?!\n)")
COL_STEP = 1024  # bytes between column checkpoints on a long non-ASCII line
_ASCII = re.compile(rb"[\x00-\x7f]")


@dataclass
class Found:
    """A definition or a scope: its node, what it is, and its qualified name once known."""

    node: Any
    kind: str
    name: str
    qualname: str = ""
    container: str = ""
    row: bool = True  # False: a scope that only qualifies names (a Rust impl block)


@dataclass
class Facts:
    """Everything one file yields, in source order."""

    language: str
    data: bytes  # the file's bytes: names and code units are cut from these
    ascii: bool
    parsed: bytes = b""  # what tree-sitter parsed: ``data`` with lone CRs as LF (``line_ends``)
    definitions: list[Found] = field(default_factory=list)
    imports: list[tuple[Any, str, str, str]] = field(default_factory=list)  # node, kind, module, scope
    calls: list[tuple[Any, str, str]] = field(default_factory=list)  # call node, callee, scope
    problems: list[tuple[str, str, Any]] = field(default_factory=list)  # kind, message, node

    #: line start -> (byte offsets, character columns) of checkpoints about every COL_STEP bytes of
    #: a long non-ASCII line, each before an ASCII byte
    _marks: dict[int, tuple[list[int], list[int]]] = field(default_factory=dict, repr=False)

    def col(self, byte_col: int, start_byte: int) -> int:
        """A tree-sitter byte column as a character column (as a "replace" decode of the line counts).

        A decode can be split before any ASCII byte (no UTF-8 sequence, valid or not, runs across
        one). A short column is decoded from the line's start; on a long line (a minified bundle)
        from the nearest checkpoint, laid once per line about every COL_STEP bytes, so each answer
        costs at most a few KB of decoding whatever the order of the questions (marks inserted as
        questions came were a list insert each: 600,000 spans of a 10 MB line took 30 s). A leading
        UTF-8 BOM counts no column: compilers, node and editors skip it, as Python's rows do."""
        if self.ascii:
            return byte_col
        line_start = start_byte - byte_col
        first = 3 if line_start == 0 and self.data.startswith(b"\xef\xbb\xbf") else line_start
        if start_byte <= first:
            return 0
        if byte_col <= 2 * COL_STEP:
            return len(self.data[first:start_byte].decode("utf-8", "replace"))
        marks = self._marks.get(line_start)
        if marks is None:
            marks = self._marks[line_start] = self._checkpoints(line_start, first)
        offsets, columns = marks
        at = bisect.bisect_right(offsets, start_byte) - 1
        return columns[at] + len(self.data[offsets[at] : start_byte].decode("utf-8", "replace"))

    def _checkpoints(self, line_start: int, first: int) -> tuple[list[int], list[int]]:
        """Offsets (each before an ASCII byte) about every COL_STEP bytes of a line, with the
        character column of each: the line is decoded once, piece by piece."""
        data = self.data
        end = (self.parsed or data).find(b"\n", line_start)
        end = len(data) if end < 0 else end
        offsets, columns = [first], [0]
        while (m := _ASCII.search(data, offsets[-1] + COL_STEP, end)) is not None:
            columns.append(columns[-1] + len(data[offsets[-1] : m.start()].decode("utf-8", "replace")))
            offsets.append(m.start())
        return offsets, columns

    def span(self, node: Any) -> tuple[int, int, int, int]:
        s, e = node.start_point, node.end_point
        return (s[0] + 1, self.col(s[1], node.start_byte), e[0] + 1, self.col(e[1], node.end_byte))

    def text(self, node: Any) -> str:
        return self.data[node.start_byte : node.end_byte].decode("utf-8", "replace")


def facts_of(src: SourceFile) -> Facts | None:
    """The file's facts, computed once and shared by every tree-sitter extractor that runs on it
    (None for a file whose content was not read: too large or binary)."""
    cached = src.__dict__.get("_ts_facts")
    if cached is not None or "_ts_facts" in src.__dict__:
        return cached
    facts = None
    if src.data is not None and src.line_count is None and src.language in GRAMMARS:
        # read, but binary (a file whose extension lies): said once, as for a binary Python file
        src.__dict__["_ts_facts"] = None
        raise ParseFailure("binary", f"binary content (NUL and control bytes) in a {src.language} file")
    if src.data is not None and src.line_count is not None and src.language in GRAMMARS:
        try:
            facts = _extract(src)
        except ParseFailure:
            # the first extractor reports it (one errors row); the others sharing this parse get
            # nothing rather than parsing again past the budget and writing the same row again
            src.__dict__["_ts_facts"] = None
            raise
    src.__dict__["_ts_facts"] = facts
    return facts


def line_ends(data: bytes) -> bytes:
    """``data`` with every lone CR as LF (same length, so every byte offset holds). Compilers and
    editors end a line at a lone CR (C, C++, JavaScript, Python...) but tree-sitter counts rows at LF
    only: a CR-only file was all line 1, and in C ``// note<CR>int hidden(void) {...}`` was one
    comment to tree-sitter while gcc compiled ``hidden``."""
    crs = data.count(b"\r")
    if not crs or crs == data.count(b"\r\n"):
        return data
    return _LONE_CR.sub(b"\n", data)


def parse(src: SourceFile, parser: Any, data: bytes | None = None) -> Any:
    """Parse ``data`` (default ``src.data``); past ``src.deadline`` the parse cancels itself
    (tree-sitter's progress callback) and raises ParseFailure ``timeout``, so the worker never has to
    be killed."""
    data = data if data is not None else (src.data or b"")
    if src.deadline is None:
        return parser.parse(data)
    view = memoryview(data)
    deadline = src.deadline
    clock = time.monotonic

    def read(offset: int, _point: Any) -> Any:
        return view[offset:]

    try:
        return parser.parse(read, progress_callback=lambda _offset, _has_error: clock() > deadline)
    except ValueError:  # tree-sitter's "Parsing failed": our callback cancelled it
        parser.reset()  # or the parser's next parse would resume this one, on another file's bytes
        raise ParseFailure(
            "timeout", f"tree-sitter parse cancelled: past the file's time budget ({len(data)} bytes)"
        ) from None


def _extract(src: SourceFile) -> Facts:
    import tree_sitter

    language = src.language or ""
    try:
        pack = compiled(language, grammar_function(language, src.path))
    except MissingGrammar as exc:
        raise ParseFailure("extractor", str(exc)) from None
    data = src.data or b""
    parsed = line_ends(data)
    tree = parse(src, pack.parser, parsed)
    deep = deeper_than(tree.root_node, MAX_DEPTH)
    if deep is not None:
        raise ParseFailure(
            "limit",
            f"nested deeper than {MAX_DEPTH:,} levels: tree-sitter's queries would lose definitions "
            "and calls past 65,535, so this file gives none",
            line=deep.start_point[0] + 1,
        )
    facts = Facts(language=language, data=data, ascii=data.isascii(), parsed=parsed)
    root = tree.root_node
    _definitions_and_imports(facts, tree_sitter.QueryCursor(pack.definitions_and_imports).matches(root))
    if pack.calls is not None:
        _calls(facts, tree_sitter.QueryCursor(pack.calls).captures(root))
    if root.has_error:
        _problems(facts, tree_sitter.QueryCursor(pack.problems).captures(root))
    return facts


def deeper_than(root: Any, limit: int) -> Any:
    """The first node deeper than ``limit`` below ``root``, or None. Only subtrees that could reach
    past the limit are entered (a node's descendant count bounds its depth), so an ordinary file
    costs a few nodes; the depth is counted here because ``TreeCursor.depth`` is linear in it."""
    if root.descendant_count <= limit:
        return None
    cursor = root.walk()
    depth = 0
    while True:
        if depth > limit:
            return cursor.node
        if depth + cursor.node.descendant_count - 1 > limit and cursor.goto_first_child():
            depth += 1
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return None
            depth -= 1


def _definitions_and_imports(facts: Facts, matches: list[tuple[int, dict[str, list[Any]]]]) -> None:
    g = GRAMMARS[facts.language]
    package = ""
    items: list[tuple[int, int, int, Any]] = []  # start, -end, order, item
    seen: set[tuple[int, int, str]] = set()
    for order, (_pattern, caps) in enumerate(matches):
        if "package" in caps:
            package = package or facts.text(caps["package"][0])
            continue
        for cap, nodes in caps.items():
            if cap.startswith("def.") or cap == "scope":
                node = nodes[0]
                kind = cap[4:] if cap != "scope" else "impl"
                key = (node.start_byte, node.end_byte, kind)
                if key in seen or "name" not in caps:
                    break
                seen.add(key)
                found = Found(node, kind, facts.text(caps["name"][0]), row=cap != "scope")
                receiver = caps.get("receiver")
                items.append((node.start_byte, -node.end_byte, order, (found, receiver)))
                break
            if cap.startswith("import."):
                node = nodes[0]
                kind = facts.text(caps["import_kind"][0]) if "import_kind" in caps else cap[7:]
                if "import_kind" in caps and kind not in IMPORT_FUNCTIONS:
                    break  # a call with a string argument, not require(...)
                module = facts.text(caps["source"][0]).strip("\"'`<> \t") if "source" in caps else ""
                items.append((node.start_byte, -node.end_byte, order, (node, kind, module)))
                break
    items.sort(key=lambda t: t[:3])
    stack: list[Found] = []
    budget, made = text_budget(facts.data), 0
    for start, _neg_end, _order, item in items:
        while stack and stack[-1].node.end_byte <= start:
            stack.pop()
        if isinstance(item[0], Found):
            found, receiver = item
            _qualify(found, stack, package, g.sep, g.package_sep, receiver, facts)
            made += len(found.qualname) + len(found.container)
            if made > budget:
                raise too_much_text("qualified names", budget, found.node.start_point[0] + 1)
            if found.row:
                facts.definitions.append(found)
            stack.append(found)
        else:
            node, kind, module = item
            facts.imports.append((node, kind, module, stack[-1].qualname if stack else ""))


def _qualify(
    found: Found,
    stack: list[Found],
    package: str,
    sep: str,
    package_sep: str,
    receiver: list[Any] | None,
    facts: Facts,
) -> None:
    """Qualified name from the enclosing definitions (or a Go method's receiver type) and the package."""
    name = found.name
    outer = stack[-1].qualname if stack else ""
    parent_kind = stack[-1].kind if stack else None
    if receiver:
        recv = facts.text(receiver[0])
        outer = f"{package}{package_sep}{recv}" if package else recv
        parent_kind = "receiver"
    elif not stack and package:
        outer = package
    if sep in name and found.kind != "impl":  # C++ 'Widget::draw', Ruby 'A::B': qualified where written
        prefix, _, name = name.rpartition(sep)
        outer = f"{outer}{sep}{prefix}" if outer else prefix
    found.name = name
    found.container = outer
    joiner = package_sep if (outer == package and package and not receiver) else sep
    found.qualname = f"{outer}{joiner}{name}" if outer else name
    if found.kind == "function" and parent_kind in CLASSLIKE:
        found.kind = "method"
    elif found.kind == "method" and parent_kind not in CLASSLIKE and facts.language in ("ruby", "php"):
        found.kind = "function"


def _calls(facts: Facts, captures: dict[str, list[Any]]) -> None:
    """Callees from the call nodes' fields (C lookups, no climbing to parents), then the enclosing
    definition of each call from one sweep in source order."""
    data = facts.data
    calls: list[tuple[int, Any, str]] = []
    for capture, nodes in captures.items():
        _, how, fieldname = capture.split(".", 2)
        for call in nodes:
            part = call.child_by_field_name(fieldname)
            if part is None:  # a grammar without that field name (PHP's `new`): a child of that type
                part = next((c for c in call.named_children if c.type == fieldname), None)
            if part is None:
                start, end = call.start_byte, call.end_byte
            elif how == "text":
                start, end = part.start_byte, part.end_byte
            elif how == "before":
                start, end = call.start_byte, part.start_byte
            else:  # through
                start, end = call.start_byte, part.end_byte
            callee = data[start:end].decode("utf-8", "replace").strip()
            if callee.startswith("new "):  # PHP's `new Foo(...)`: the class is the callee
                callee = callee[4:].lstrip()
            calls.append((call.start_byte, call, callee))
    if not calls:
        return
    calls.sort(key=lambda c: c[0])
    scopes = sorted(facts.definitions, key=lambda d: d.node.start_byte)
    stack: list[Found] = []
    i = 0
    for start, call, callee in calls:
        while i < len(scopes) and scopes[i].node.start_byte <= start:
            while stack and stack[-1].node.end_byte <= scopes[i].node.start_byte:
                stack.pop()
            stack.append(scopes[i])
            i += 1
        while stack and stack[-1].node.end_byte <= start:
            stack.pop()
        if len(callee) > MAX_CALLEE:
            callee = callee[: MAX_CALLEE - 3] + "..."
        if "\n" in callee:
            callee = " ".join(callee.split())
        facts.calls.append((call, callee, stack[-1].qualname if stack else ""))


def _problems(facts: Facts, captures: dict[str, list[Any]]) -> None:
    why = "syntax error: tree-sitter could not parse this"
    if facts.language in ("c", "cpp"):
        why += " (in C and C++ often a macro the grammar cannot expand)"
    found = [(n.start_byte, "syntax", why, n) for n in captures.get("error", ())]
    found += [
        (n.start_byte, "syntax", f"missing {n.type!r} (tree-sitter inserted it to recover)", n)
        for n in captures.get("missing", ())
    ]
    found.sort(key=lambda t: t[0])
    # an ERROR node nested in another with the same start (NUL bytes do it) is the same row twice
    seen: set[tuple[int, str, str]] = set()
    unique = []
    for t in found:
        if t[:3] not in seen:
            seen.add(t[:3])
            unique.append(t)
    found = unique
    for _start, kind, message, node in found[:MAX_ERROR_ROWS]:
        facts.problems.append((kind, message, node))
    if len(found) > MAX_ERROR_ROWS:
        facts.problems.append(
            (
                "syntax",
                f"{len(found) - MAX_ERROR_ROWS} more syntax errors not listed",
                found[MAX_ERROR_ROWS][3],
            )
        )
