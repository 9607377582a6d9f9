"""How the text reaching a SQL sink was built: literal, f-string, percent, format, concat, join, composed.

:class:`Builder` follows one expression (and the names in it, back to their last assignment in the
same function, then the module) into a :class:`Built`: the text as far as it is known, the
techniques used and the expressions interpolated.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from codequarry.extractors.python.security.callsites import FileFacts
from codequarry.python.scopes import enclosing_def, parameter_names
from codequarry.python.values import literal_str
from codequarry.source import SourceFile

_MAX_PIECE = 80
_MAX_DEPTH = 8


@dataclass(slots=True)
class Built:
    """How one expression that becomes SQL text was built."""

    build: str
    text: str | None = None  # the text as far as known; interpolations shown as {expression}
    techniques: set[str] = field(default_factory=set)
    interpolated: list[str] = field(default_factory=list)
    assigned_line: int | None = None


class Builder:
    """Classifies SQL expressions; traces plain names to their last assignment in the same scope."""

    def __init__(self, src: SourceFile, facts: FileFacts) -> None:
        self.src = src
        self.facts = facts
        self.seg = src.segment
        self._assigns: dict[tuple[Any, str], list[Any]] | None = None

    def build(self, expr: Any, scope: Any, at: Any) -> Built:
        return self._build(expr, scope, (at.lineno, at.col_offset), 0, True)

    def _piece(self, node: Any) -> str:
        return self.seg(node, _MAX_PIECE)

    def _build(self, node: Any, scope: Any, before: tuple[int, int], depth: int, top: bool = False) -> Built:
        if depth > _MAX_DEPTH:
            return Built("other")
        cls = node.__class__
        if cls is ast.Constant:
            value = node.value
            if value.__class__ is str:
                return Built("literal", value)
            if value.__class__ is bytes:
                return Built("literal", value.decode("utf-8", "replace"))
            return Built("other")
        if cls is ast.JoinedStr:
            return self._fstring(node)
        if cls is ast.BinOp:
            op = node.op.__class__
            if op is ast.Mod:
                return self._percent(node, scope, before, depth)
            if op is ast.Add:
                operands = []
                n = node
                while n.__class__ is ast.BinOp and n.op.__class__ is ast.Add:
                    operands.append(n.right)
                    n = n.left
                operands.append(n)
                operands.reverse()
                return self._concat([self._build(o, scope, before, depth + 1) for o in operands], operands)
            return Built("other")
        if cls is ast.Call:
            return self._call(node, scope, before, depth)
        if cls is ast.Name:
            return self._name(node, scope, before, depth, top)
        if cls is ast.Attribute:
            return Built("attribute")
        if cls is ast.IfExp:  # `"A" if c else "B"`: either branch may be the text
            body = self._build(node.body, scope, before, depth + 1)
            orelse = self._build(node.orelse, scope, before, depth + 1)
            if body.build == "literal" and orelse.build == "literal":
                return Built("literal", body.text)
            first, second = (body, orelse) if body.build != "literal" else (orelse, body)
            return Built(
                first.build,
                first.text,
                first.techniques | second.techniques,
                first.interpolated + second.interpolated,
            )
        return Built("other")

    def _fstring(self, node: ast.JoinedStr) -> Built:
        parts: list[str] = []
        interpolated: list[str] = []
        for v in node.values:
            if v.__class__ is ast.Constant:
                parts.append(str(v.value))
            elif v.__class__ is ast.FormattedValue:
                inner = v.value
                if inner.__class__ is ast.Constant:
                    parts.append(str(inner.value))
                    continue
                piece = self._piece(inner)
                parts.append("{" + piece + "}")
                interpolated.append(piece)
        if not interpolated:
            return Built("literal", "".join(parts))
        return Built("fstring", "".join(parts), {"fstring"}, interpolated)

    def _percent(self, node: ast.BinOp, scope: Any, before: tuple[int, int], depth: int) -> Built:
        left = self._build(node.left, scope, before, depth + 1)
        right = node.right
        if right.__class__ is ast.Tuple:
            items = right.elts
        elif right.__class__ is ast.Dict:
            items = [v for v in right.values if v is not None]
        else:
            items = [right]
        interpolated = list(left.interpolated)
        interpolated.extend(self._piece(e) for e in items if e.__class__ is not ast.Constant)
        techniques = set(left.techniques)
        if len(interpolated) > len(left.interpolated):
            techniques.add("percent")
        return Built("percent", left.text, techniques, interpolated)

    def _concat(self, parts: list[Built], nodes: list[Any]) -> Built:
        texts: list[str] = []
        interpolated: list[str] = []
        techniques: set[str] = set()
        plain = False  # an operand interpolated as it is (a name, a call), not built from literals
        for built, node in zip(parts, nodes, strict=True):
            if built.build == "literal":
                texts.append(built.text or "")
                continue
            techniques |= built.techniques
            if built.text is not None and built.build in ("fstring", "percent", "format", "concat", "join"):
                texts.append(built.text)
                interpolated.extend(built.interpolated)
            else:
                piece = self._piece(node) if node is not None else "?"
                texts.append("{" + piece + "}")
                interpolated.append(piece)
                plain = True
        if not interpolated:
            return Built("literal", "".join(texts))
        if plain:
            techniques.add("concat")
        return Built("concat", "".join(texts), techniques, interpolated)

    def _call(self, node: ast.Call, scope: Any, before: tuple[int, int], depth: int) -> Built:
        func = node.func
        if _is_sql_composer(node):
            return Built("composed", _literal_arg(node))
        if func.__class__ is not ast.Attribute:
            return Built("call")
        receiver = func.value
        if func.attr == "format":
            if _is_sql_composer(receiver):
                return Built("composed", _literal_arg(receiver))
            recv = self._build(receiver, scope, before, depth + 1)
            values = [*node.args, *(kw.value for kw in node.keywords)]
            interpolated = list(recv.interpolated)
            interpolated.extend(self._piece(v) for v in values if v.__class__ is not ast.Constant)
            techniques = set(recv.techniques)
            if len(interpolated) > len(recv.interpolated):
                techniques.add("format")
            return Built("format", recv.text, techniques, interpolated)
        if func.attr == "join" and receiver.__class__ is ast.Constant and receiver.value.__class__ is str:
            if not node.args:
                return Built("call")
            items = node.args[0]
            sep = receiver.value
            if (
                items.__class__ is ast.BinOp
                and items.op.__class__ is ast.Mult
                and items.left.__class__ in (ast.List, ast.Tuple)
                and len(items.left.elts) == 1
            ):
                item = literal_str(items.left.elts[0])
                if item is not None:  # ", ".join(["%s"] * n): placeholders, not values
                    return Built("join", f"{item}{sep}{item}{sep}...")
            if items.__class__ in (ast.List, ast.Tuple):
                parts = [self._build(e, scope, before, depth + 1) for e in items.elts]
                if all(p.build == "literal" for p in parts):
                    return Built("literal", sep.join(p.text or "" for p in parts))
            piece = self._piece(items)
            return Built("join", "{" + piece + "}", {"join"}, [piece])
        return Built("call")

    def _name(self, node: ast.Name, scope: Any, before: tuple[int, int], depth: int, top: bool) -> Built:
        chain = self._trace(node.id, scope, before)
        if chain is None:
            if (
                scope is not None
                and scope.__class__ is not ast.ClassDef
                and node.id in parameter_names(scope.args)
            ):
                return Built("parameter")
            return Built("name")
        base, augments = chain
        if base.__class__ is ast.AugAssign:  # only `+=` seen: the start is unknown
            built = Built("name")
            start_nodes: list[Any] = [node]
        else:
            start = base.value
            built = self._build(start, self._scope_of(base), (base.lineno, base.col_offset), depth + 1)
            start_nodes = [start]
        if augments:
            parts = [built]
            nodes = start_nodes
            for aug in augments:
                parts.append(
                    self._build(aug.value, self._scope_of(aug), (aug.lineno, aug.col_offset), depth + 1)
                )
                nodes.append(aug.value)
            built = self._concat(parts, nodes)
        if top:
            built.assigned_line = base.lineno
        return built

    # -- tracing names --------------------------------------------------------------------------------
    def _scope_of(self, stmt: Any) -> Any:
        return enclosing_def(self.facts.parent, stmt)

    def _index(self) -> dict[tuple[Any, str], list[Any]]:
        found: dict[tuple[Any, str], list[Any]] = {}
        Name = ast.Name
        for stmt in self.src.nodes(ast.Assign, ast.AnnAssign, ast.AugAssign):
            cls = stmt.__class__
            if cls is ast.Assign:
                names = [t.id for t in stmt.targets if t.__class__ is Name]
            elif cls is ast.AugAssign:
                if stmt.target.__class__ is not Name or stmt.op.__class__ is not ast.Add:
                    continue
                names = [stmt.target.id]
            else:
                if stmt.value is None or stmt.target.__class__ is not Name:
                    continue
                names = [stmt.target.id]
            if not names:
                continue
            scope = self._scope_of(stmt)
            for name in names:
                found.setdefault((scope, name), []).append(stmt)
        for stmts in found.values():
            stmts.sort(key=lambda s: (s.lineno, s.col_offset))
        return found

    def _trace(self, name: str, scope: Any, before: tuple[int, int]) -> tuple[Any, list[Any]] | None:
        """(the last plain assignment to ``name`` before ``before`` in ``scope``, the ``+=`` after it);
        a function without one falls back to the module's last assignment. None when there is none."""
        if self._assigns is None:
            self._assigns = self._index()
        stmts = self._assigns.get((scope, name))
        if stmts:
            earlier = [s for s in stmts if (s.lineno, s.col_offset) < before]
            augments: list[Any] = []
            for stmt in reversed(earlier):
                if stmt.__class__ is ast.AugAssign:
                    augments.append(stmt)
                else:
                    augments.reverse()
                    return stmt, augments
            if augments:
                augments.reverse()
                return augments[0], augments[1:]
            return None
        if scope is not None and scope.__class__ is not ast.ClassDef and name in parameter_names(scope.args):
            return None
        if scope is not None:
            module_level = self._assigns.get((None, name))
            if module_level and module_level[-1].__class__ is not ast.AugAssign:
                return module_level[-1], []
        return None


def _is_sql_composer(call: Any) -> bool:
    """``sql.SQL("...")`` / ``SQL("...")``: psycopg's composable SQL, which quotes what it inserts."""
    if call.__class__ is not ast.Call:
        return False
    func = call.func
    name = func.attr if func.__class__ is ast.Attribute else func.id if func.__class__ is ast.Name else None
    return name in ("SQL", "Composed")


def _literal_arg(call: Any) -> str | None:
    if call.args and call.args[0].__class__ is ast.Constant and call.args[0].value.__class__ is str:
        return call.args[0].value
    return None
