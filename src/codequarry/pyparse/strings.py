"""String literals: plain, bytes, implicit concatenation, f-strings (PEP 701) and t-strings (PEP 750).

``ast`` 3.11 gives the parts of an f-string (its constants and formatted values) the span of the whole
literal, and a format spec the span from the literal's start to the end of its own piece; these
positions are reproduced so that trees compare equal with ``ast.dump(include_attributes=True)``.
"""

from __future__ import annotations

import ast
import functools
import re
import warnings
from typing import TYPE_CHECKING, Any

from codequarry.pyparse.base import LOAD, Context, Unsupported, named, span, start_of, text

_ESCAPE = re.compile(r"\\(N\{[^}]*\}|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{1,3}|\n|.)", re.S)
_CONVERSIONS = {"s": 115, "r": 114, "a": 97}


@functools.lru_cache(maxsize=512)
def _escape(seq: str) -> str:
    """One backslash escape of a str literal, decoded as the tokenizer does (unknown ones kept)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.literal_eval(f'"{seq}"') if seq != "\\\n" else ""


def unescape(raw: str) -> str:
    return _ESCAPE.sub(lambda m: _escape(m.group(0)), raw) if "\\" in raw else raw


def _body(node: Any) -> tuple[str, str, int, bytes]:
    """(prefix, quote, offset of the body, body) of a string node, from its text: tree-sitter's
    ``string_content`` nodes are not trusted (an ``r'\\\\'`` body is folded into ``string_end``)."""
    head = text(node.children[0])
    quote = head.lstrip("rRbBuUfFtT")
    prefix = head[: len(head) - len(quote)].lower()
    data = node.text
    return prefix, quote, len(head), data[len(head) : len(data) - len(quote)]


def _plain(node: Any, prefix: str) -> str | bytes:
    """The value of a string literal without interpolations."""
    body = _body(node)[3]
    if "b" in prefix:
        if "r" in prefix or b"\\" not in body:
            return body
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.literal_eval(text(node))  # type: ignore[no-any-return]
    raw = body.decode("utf-8")
    return raw if "r" in prefix else unescape(raw)


class Strings:
    """Mixin of the converter for ``string`` and ``concatenated_string`` nodes."""

    if TYPE_CHECKING:  # provided by the other mixins of the converter

        def expr(self, node: Any) -> ast.expr: ...

    cx: Context

    def x_string(self, node: Any) -> ast.expr:
        return self._literal([node], node)

    def x_concatenated_string(self, node: Any) -> ast.expr:
        return self._literal([c for c in named(node) if c.type == "string"], node)

    def _literal(self, parts: list[Any], whole: Any) -> ast.expr:
        pieces: list[Any] = []
        joined = False
        kind = None
        where = span(whole)
        for i, part in enumerate(parts):
            prefix = text(part.children[0]).rstrip("'\"").lower()
            if i == 0 and "u" in prefix:
                kind = "u"
            if "f" in prefix or "t" in prefix:
                joined = True
                if "t" in prefix:
                    self.cx.note(
                        part,
                        "t-string (PEP 750)",
                        (3, 14),
                        "a t-string is stored as an f-string (JoinedStr), not a Template",
                    )
                pieces.extend(self._interpolated(part, prefix, where))
            else:
                pieces.append(_plain(part, prefix))
        if not joined:
            if pieces and isinstance(pieces[0], bytes):
                return ast.Constant(value=b"".join(pieces), kind=None, **where)
            return ast.Constant(value="".join(pieces), kind=kind, **where)
        return ast.JoinedStr(values=_merge(pieces, where), **where)

    def _interpolated(self, part: Any, prefix: str, where: dict[str, int]) -> list[Any]:
        raw = "r" in prefix
        _, quote, lo, body = _body(part)
        base = part.start_byte
        out: list[Any] = []
        piece = span(part)
        cursor = lo
        for child in part.children:
            if child.type == "interpolation":
                start = child.start_byte - base
                if start > cursor:
                    out.append(_content(part.text[cursor:start].decode("utf-8"), raw))
                out.extend(self._formatted(child, raw, where, piece))
                cursor = child.end_byte - base
        end = lo + len(body)
        if end > cursor:
            out.append(_content(part.text[cursor:end].decode("utf-8"), raw))
        return out

    def _formatted(self, node: Any, raw: bool, where: dict[str, int], spec_end: dict[str, int]) -> list[Any]:
        """A replacement field: its ``=`` debug text (if any) and its FormattedValue."""
        exprs = [c for c in node.children_by_field_name("expression") if c.type != "comment"]
        if len(exprs) != 1:
            raise Unsupported("an f-string replacement field without one expression", node)
        if exprs[0].type == "named_expression":  # ``{x:=10}`` is ``x`` with the spec ``=10``
            return [self._walrus_spec(node, exprs[0], where, spec_end)]
        value = self.expr(exprs[0])
        if exprs[0].type == "expression_list":  # 3.11 parses ``{a, b}`` as ``(a, b)``: braces are parens
            stop = next(
                c for c in node.children[1:] if c.type in ("=", "type_conversion", "format_specifier", "}")
            )
            row, col = stop.start_point  # the ``)`` 3.11 puts where the expression text ends
            value.__dict__.update(start_of(node), end_lineno=row + 1, end_col_offset=col + 1)
        conv_node = node.child_by_field_name("type_conversion")
        spec_node = node.child_by_field_name("format_specifier")
        conversion = _CONVERSIONS[text(conv_node)[1:]] if conv_node is not None else -1
        out: list[Any] = []
        debug = next((i for i, c in enumerate(node.children) if c.type == "="), None)
        if debug is not None:  # the text up to the next token, whitespace after ``=`` included
            after = node.children[debug + 1]
            out.append(node.text[1 : after.start_byte - node.start_byte].decode("utf-8"))
            if conv_node is None and spec_node is None:
                conversion = _CONVERSIONS["r"]
        spec = None
        if spec_node is not None:
            values = _merge(self._spec(spec_node, raw, where, spec_end), where, spec_end)
            spec = ast.JoinedStr(values=values, **spec_end)
        out.append(ast.FormattedValue(value=value, conversion=conversion, format_spec=spec, **where))
        return out

    def _walrus_spec(self, node: Any, walrus: Any, where: dict[str, int], tail: dict[str, int]) -> ast.expr:
        name = walrus.child_by_field_name("name")
        value = ast.Name(id=text(name), ctx=LOAD, **span(name))
        close = next(c for c in reversed(node.children) if c.type == "}")
        spec_text = node.text[name.end_byte - node.start_byte + 1 : close.start_byte - node.start_byte]
        spec = ast.JoinedStr(values=_merge([spec_text.decode("utf-8")], where, tail), **tail)
        return ast.FormattedValue(value=value, conversion=-1, format_spec=spec, **where)

    def _spec(self, node: Any, raw: bool, where: dict[str, int], spec_end: dict[str, int]) -> list[Any]:
        """The pieces of a format spec: literal text and nested replacement fields."""
        out: list[Any] = []
        data = node.text
        base = node.start_byte
        cursor = 1  # after the ':'
        for child in node.children:
            if child.type == "format_expression":
                lo = child.start_byte - base
                if lo > cursor:
                    out.append(_content(data[cursor:lo].decode("utf-8"), raw))
                out.extend(self._formatted(child, raw, where, spec_end))
                cursor = child.end_byte - base
        if len(data) > cursor:
            out.append(_content(data[cursor:].decode("utf-8"), raw))
        return out


def _content(raw_text: str, raw: bool) -> str:
    braces = raw_text.replace("{{", "{").replace("}}", "}")
    return braces if raw else unescape(braces)


def _merge(pieces: list[Any], where: dict[str, int], tail: dict[str, int] | None = None) -> list[ast.expr]:
    """Adjacent literal text becomes one Constant; empty text disappears (as in ``ast``).

    As in CPython 3.11, text before a replacement field gets the span of the whole literal, and the
    text that ends a format spec gets ``tail``, the span of the string piece holding the spec.
    """
    values: list[ast.expr] = []
    pending: list[str] = []
    for piece in pieces:
        if isinstance(piece, str):
            pending.append(piece)
            continue
        if isinstance(piece, bytes):
            raise Unsupported("bytes and an f-string concatenated", None)
        if pending and "".join(pending):
            values.append(ast.Constant(value="".join(pending), kind=None, **where))
        pending = []
        values.append(piece)
    if pending and "".join(pending):
        values.append(ast.Constant(value="".join(pending), kind=None, **(tail or where)))
    return values
