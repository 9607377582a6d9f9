"""The tree-sitter-python -> ``ast`` converter, assembled from one mixin per part of the grammar."""

from __future__ import annotations

import ast
from typing import Any

from codequarry.pyparse.base import Context
from codequarry.pyparse.expressions import Expressions
from codequarry.pyparse.parameters import Parameters
from codequarry.pyparse.patterns import Patterns
from codequarry.pyparse.statements import Statements
from codequarry.pyparse.strings import Strings


class Converter(Statements, Patterns, Parameters, Strings, Expressions):
    """Builds an ``ast.Module`` equal to what ``ast.parse`` gives (positions included) for Python 3.11
    syntax, and the closest 3.11 tree for newer syntax, with a note per approximation."""

    def __init__(self, cx: Context) -> None:
        self.cx = cx
        self.semicolons = {}
        self.as_target = None
        self.in_with_item = False

    def module(self, root: Any) -> ast.Module:
        return ast.Module(body=self.block(root), type_ignores=[])
