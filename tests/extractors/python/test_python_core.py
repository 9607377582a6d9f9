"""The built-in Python core extractors: golden fixtures, tricky cases, and the walk-once rule.

Golden files: ``tests/fixtures/core/<case>/`` is a small source tree, ``<case>.expected.json`` its
expected rows per dataset (provenance ``repo`` and ``sha256`` left out). After an intended change,
regenerate with ``pytest tests/extractors/python/test_python_core.py --update-golden`` and review the diff.
"""

from __future__ import annotations

import ast
import inspect
import os
import sysconfig
import warnings
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from codequarry.extractors.python.core import assignments, defs, modules
from codequarry.extractors.python.core import calls as core_calls
from codequarry.extractors.python.core import imports as core_imports
from codequarry.python import calls, imports, resolve, scopes, spans, values
from codequarry.source import _SKIP, SourceFile
from codequarry.testing import assert_golden, extract_rows
from tests import paths

FIXTURES = paths.FIXTURES / "core"
CASES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
DATASETS = ("modules", "functions", "classes", "imports", "calls", "assignments")
SELECT = ["python.core"]


@cache
def case_rows(case: str) -> dict[str, list[dict[str, Any]]]:
    return extract_rows(FIXTURES / case, select=SELECT)


def rows(case: str, dataset: str, **match: Any) -> list[dict[str, Any]]:
    return [r for r in case_rows(case).get(dataset, []) if all(r[k] == v for k, v in match.items())]


def one(case: str, dataset: str, **match: Any) -> dict[str, Any]:
    found = rows(case, dataset, **match)
    assert len(found) == 1, f"{len(found)} {dataset} rows match {match}: {found}"
    return found[0]


# -- golden files ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str) -> None:
    tables = case_rows(case)
    assert not tables["errors"], tables["errors"]
    for name in DATASETS:
        for row in tables[name]:
            assert row["repo"] == case and len(row["sha256"]) == 64
    assert_golden(tables, FIXTURES / f"{case}.expected.json", datasets=DATASETS)


# -- functions and classes -----------------------------------------------------------------------------


def test_qualnames_of_nested_defs() -> None:
    helper = one("defs", "functions", name="helper")
    assert helper["qualname"] == "Base.Meta.describe.<locals>.helper"
    assert (helper["class_name"], helper["kind"], helper["is_nested"]) == (None, "function", True)
    describe = one("defs", "functions", name="describe")
    assert (describe["qualname"], describe["class_name"], describe["kind"]) == (
        "Base.Meta.describe",
        "Meta",
        "method",
    )
    method = one("defs", "functions", name="method")
    assert method["qualname"] == "outer.<locals>.Local.method" and method["is_nested"]
    assert one("defs", "classes", name="Local")["qualname"] == "outer.<locals>.Local"
    assert one("defs", "functions", name="innermost")["qualname"] == "outer.<locals>.inner.<locals>.innermost"


def test_method_kinds() -> None:
    kinds = {(r["name"], r["line"]): r["kind"] for r in rows("defs", "functions", class_name="Base")}
    assert sorted(Counter(kinds.values()).items()) == [
        ("classmethod", 2),
        ("method", 3),
        ("property", 4),
        ("staticmethod", 1),
    ]
    assert {k for (n, _), k in kinds.items() if n == "name"} == {"property"}  # getter, setter, deleter
    assert one("defs", "functions", name="__init_subclass__")["kind"] == "classmethod"  # implicit
    assert one("defs", "functions", name="conditional")["kind"] == "method"  # under an `if` in the body
    refresh = one("defs", "functions", name="refresh")
    assert (refresh["kind"], refresh["is_async"], refresh["is_generator"]) == ("method", True, False)
    assert one("defs", "functions", name="stream")["is_generator"]
    assert not one("defs", "functions", name="conditional")["is_generator"]  # the yield is the lambda's


def test_parameters() -> None:
    params = one("defs", "functions", name="posonly")["parameters"]
    assert params == [
        {"name": "x", "kind": "positional_only", "annotation": None, "has_default": False, "default": None},
        {
            "name": "y",
            "kind": "positional_or_keyword",
            "annotation": "int",
            "has_default": True,
            "default": "2",
        },
        {"name": "z", "kind": "keyword_only", "annotation": '"str"', "has_default": True, "default": '"zz"'},
    ]
    plain = one("defs", "functions", name="plain")["parameters"]
    assert [(p["name"], p["kind"], p["default"]) for p in plain] == [
        ("a", "positional_or_keyword", None),
        ("b", "positional_or_keyword", "1"),
        ("args", "var_positional", None),
        ("c", "keyword_only", None),
        ("d", "keyword_only", "None"),
        ("kw", "var_keyword", None),
    ]
    default = one("defs", "functions", name="long_default")["parameters"][0]["default"]
    assert len(default) == 80 and default.endswith("...")


def test_def_span_starts_at_def_not_decorator() -> None:
    cached = one("defs", "functions", name="cached")
    source = (FIXTURES / "defs" / "shapes.py").read_text().splitlines()
    assert source[cached["line"] - 1].startswith("def cached(")
    assert cached["decorators"] == ["functools.lru_cache(maxsize=128)"]
    point = one("defs", "classes", name="Point")
    assert point["bases"] == ["Base", "Generic[T]"] and point["keywords"] == ["slots=True", "**{}"]
    assert one("defs", "classes", name="Base")["keywords"] == ["metaclass=ABCMeta"]


# -- imports -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "name", "resolved", "target"),
    [
        ("pkg/__init__.py", "sibling", "pkg", "pkg.sibling"),  # a package's level 1 is the package itself
        ("pkg/__init__.py", "mod", "pkg.sub", "pkg.sub.mod"),
        ("pkg/sub/__init__.py", "sibling", "pkg", "pkg.sibling"),
        ("pkg/sub/__init__.py", "nothing", None, None),  # beyond the top-level package
        ("pkg/sub/mod.py", "helper", "pkg.sibling", "pkg.sibling.helper"),
        ("pkg/sub/mod.py", "other", "pkg.sub", "pkg.sub.other"),
        ("pkg/sub/mod.py", "toofar", None, None),
        ("pkg/sibling.py", "above", None, None),
        ("top.py", "x", None, None),  # a top-level module has no package to be relative to
    ],
)
def test_relative_imports(path: str, name: str, resolved: str | None, target: str | None) -> None:
    row = one("relimports", "imports", path=path, name=name)
    assert (row["resolved"], row["target"]) == (resolved, target)


def test_import_bindings() -> None:
    row = one("imports", "imports", module="os.path")  # `import os.path` binds and refers to `os`
    assert (row["name"], row["resolved"], row["bound_name"], row["target"]) == (None, "os.path", "os", "os")
    et = one("imports", "imports", alias="ET")
    assert (et["bound_name"], et["target"]) == ("ET", "xml.etree.ElementTree")
    p = one("imports", "imports", alias="p")
    assert (p["module"], p["name"], p["target"]) == ("os", "path", "os.path")
    star = one("imports", "imports", is_star=True)
    assert (star["name"], star["bound_name"], star["target"], star["resolved"]) == (
        "*",
        None,
        None,
        "collections",
    )
    sec = one("imports", "imports", name="second")
    assert (sec["module"], sec["level"], sec["target"], sec["line"]) == (
        "sibling",
        1,
        "app.sibling.second",
        36,
    )


def test_import_context() -> None:
    flags = {
        r["bound_name"]: (r["is_type_checking"], r["in_try"], r["scope"]) for r in rows("imports", "imports")
    }
    assert flags["Decimal"] == (True, False, "")
    assert flags["fractions"] == (True, False, "")
    assert flags["pickle"] == (True, False, "")  # the else branch of `if not TYPE_CHECKING`
    assert flags["json"] == (False, False, "")
    assert [r["in_try"] for r in rows("imports", "imports", bound_name="fastjson")] == [True, True]
    assert flags["marshal"] == (False, False, "") and flags["gc"] == (False, False, "")  # else, finally
    assert flags["np"] == (False, False, "lazy") and flags["beyond"] == (False, False, "lazy")
    assert flags["loads"] == (False, False, "Config")


# -- calls -----------------------------------------------------------------------------------------------


def test_call_resolution() -> None:
    resolved = {(r["callee"], r["scope"]): r["resolved"] for r in rows("calls", "calls", path="lib/api.py")}
    assert resolved[("p.join", "user")] == "os.path.join"
    assert resolved[("np.array", "user")] == "numpy.array"
    assert resolved[("np.dumps", "with_local_import")] == "json.dumps"  # a local import shadows numpy
    assert resolved[("h", "user")] == "lib.util.helper"
    assert resolved[("util.helper", "user")] == "lib.util.helper"
    assert resolved[("len", "user")] == "builtins.len"
    assert resolved[("open", "user")] is None  # a parameter shadows the builtin
    assert resolved[("len", "user.<locals>.nested")] is None  # a local assignment shadows it
    assert resolved[("local_def", "user")] == "lib.api.local_def"
    assert resolved[("nested", "user")] == "lib.api.user.<locals>.nested"
    assert resolved[("join", "user")] == "os.path.join"  # module-level alias of an import
    assert resolved[("myopen", "user")] == "builtins.open"
    assert resolved[("P.join", "user")] == "os.path.join"
    assert resolved[("Counter", "user")] is None  # star imports are not followed
    assert resolved[("f", "user")] is None  # a lambda parameter
    assert resolved[("str", "user")] == "builtins.str"  # in a comprehension: the enclosing def's scope
    assert resolved[("self.build", "Widget.make")] is None
    assert resolved[("tool", "Widget")] == "lib.api.Widget.tool"  # class body sees its own names ...
    assert resolved[("make", "Widget.other")] is None  # ... its methods do not
    assert resolved[("counter", "use_counter")] == "lib.api.counter"  # bound through `global`


def test_call_scopes_of_headers() -> None:
    """Decorators, defaults and bases are evaluated in the enclosing scope, so their calls belong there."""
    scopes = {r["callee"]: r["scope"] for r in rows("calls", "calls", path="lib/api.py")}
    assert sorted(r["scope"] for r in rows("calls", "calls", callee="h")) == [
        "",
        "user",
    ]  # `@h(...)`, `h(...)`
    assert scopes["sorted"] == "" and scopes["max"] == "" and scopes["type"] == ""
    assert scopes["print"] == "decorated"
    assert one("calls", "calls", callee="len", scope="Widget")["resolved"] == "builtins.len"


def test_call_arguments() -> None:
    h = one("calls", "calls", callee="h", scope="user")
    assert (h["n_args"], h["keywords"], h["has_starargs"], h["has_kwargs"]) == (1, ["**"], True, True)
    arr = one("calls", "calls", callee="np.array")
    assert (arr["n_args"], arr["keywords"], arr["has_starargs"], arr["has_kwargs"]) == (
        1,
        ["dtype"],
        False,
        False,
    )
    assert one("calls", "calls", callee="lambda f: f()")["resolved"] is None
    assert one("calls", "calls", callee="Thing().run")["resolved"] is None


def test_callee_text_of_chains() -> None:
    """Long calls and subscripts inside a callee are shortened so that the method name at the end survives;
    short ones stay as written (the call graph reads ``super(C, self).m``)."""
    got = {r["callee"]: r["resolved"] for r in rows("calls", "calls", scope="chains")}
    assert got == {
        '", ".join': None,
        "Thing(1, x=2).run().run": None,
        "Thing(1, x=2).run": None,
        "Thing": "lib.util.Thing",
        "items[0].strip": None,
        '"""multi....format': None,
    }
    got = {r["callee"] for r in rows("calls", "calls", scope="shortened")}
    assert got == {"super", "super(Base, first).run", "Thing", "Thing(...).run", "first[...].get"}


# -- assignments ---------------------------------------------------------------------------------------


def test_assignment_values() -> None:
    got = {r["target"]: (r["value_kind"], r["value"]) for r in rows("assigns", "assignments", scope="")}
    assert got["DEBUG"] == ("bool", "True")
    assert got["NEG"] == ("int", "-1")
    assert got["ITEMS"] == ("list", "[1, 2, [3, -4.5]]")
    assert got["MIXED"] == ("list", None)  # holds a name: not a literal
    assert got["UNPACK"] == ("dict", None)
    assert got["LONG"] == ("str", None)  # a literal, but too long to keep
    assert got["TYPED"] == (None, None)
    assert got["FROM_ENV"] == ("call", None)
    assert got["ALIAS_T"] == ("subscript", None)
    assert (got["x"], got["y"]) == (("int", "1"), ("int", "2"))  # paired with the display's elements
    assert (got["m"], got["n"], got["o"]) == (("int", "1"), ("int", "2"), ("int", "3"))
    assert got["rest"] == ("list", "[1, 2, 3]")
    assert got['os.environ["K"]'] == ("str", '"v"')
    assert "local" not in got and "self.x" not in got


def test_assignment_scopes() -> None:
    assert [r["is_augmented"] for r in rows("assigns", "assignments", target="COUNT")] == [False, True]
    assert len(rows("assigns", "assignments", target="LEVEL")) == 2
    assert one("assigns", "assignments", target="HAS_JSON", value="True")["scope"] == ""
    assert one("assigns", "assignments", target="depth")["scope"] == "Conf.Inner"
    assert one("assigns", "assignments", target="kind")["scope"] == "factory.<locals>.Made"
    assert one("assigns", "assignments", target="port")["annotation"] == "int"


# -- modules and encodings ------------------------------------------------------------------------------


def test_modules() -> None:
    mods = {r["path"]: r for r in case_rows("relimports")["modules"]}
    assert {p: (m["module"], m["is_package"]) for p, m in mods.items()} == {
        "pkg/__init__.py": ("pkg", True),
        "pkg/sibling.py": ("pkg.sibling", False),
        "pkg/sub/__init__.py": ("pkg.sub", True),
        "pkg/sub/mod.py": ("pkg.sub.mod", False),
        "top.py": ("top", False),
    }
    assert one("calls", "modules", path="lib/api.py")["has_main_guard"]
    assert not one("calls", "modules", path="lib/util.py")["has_main_guard"]
    assert one("defs", "modules")["lines"] == len((FIXTURES / "defs" / "shapes.py").read_text().splitlines())


def _char_col(path: Path, encoding: str, line: int, needle: str) -> int:
    text = path.read_bytes().decode(encoding).lstrip("\ufeff").replace("\r\n", "\n")
    return text.split("\n")[line - 1].index(needle)


def test_character_columns_after_non_ascii() -> None:
    uni = FIXTURES / "encodings" / "uni.py"
    call = one("encodings", "calls", path="uni.py", callee="len")
    assert call["col"] == _char_col(uni, "utf-8", 2, 'len("日本語")') == 30
    assert call["end_col"] == call["col"] + len('len("日本語")')
    assert one("encodings", "calls", path="uni.py", callee="print")["col"] == _char_col(
        uni, "utf-8", 2, "print("
    )
    assert one("encodings", "calls", path="uni.py", callee="s.upper")["col"] == _char_col(
        uni, "utf-8", 15, "s.upper"
    )
    cafe = one("encodings", "assignments", target="café")
    assert (cafe["col"], cafe["end_col"]) == (23, 27)
    fn = one("encodings", "functions", name="größe")
    assert fn["parameters"][0]["default"] == '"€"[0]' and fn["returns"] == "str"
    assert one("encodings", "functions", name="méthode")["end_col"] == len(
        "    def méthode(self): return größe(1)"
    )


def test_crlf_latin1_bom() -> None:
    crlf = one("encodings", "functions", name="crlf")
    assert (crlf["line"], crlf["end_line"], crlf["docstring"]) == (4, 7, "Doc\non two lines.")
    assert crlf["parameters"][1]["default"] == '"x\\r\\ny"'
    assert one("encodings", "calls", callee="crlf")["scope"] == "C"
    latin = FIXTURES / "encodings" / "latin1.py"
    label = one("encodings", "assignments", path="latin1.py", target="label")
    assert label["value"] == '"café"'
    size = one("encodings", "calls", path="latin1.py", callee="len")
    assert size["col"] == _char_col(latin, "latin-1", 2, "len(label)")
    assert one("encodings", "functions", name="show")["parameters"][0]["default"] == '"à la"'
    bom = one("encodings", "imports", path="bom.py")
    assert (bom["line"], bom["col"], bom["bound_name"]) == (1, 7, "sys")
    assert one("encodings", "calls", path="bom.py", callee="sys.exit")["resolved"] == "sys.exit"


def test_syntax_error_costs_only_that_file(tmp_path: Path) -> None:
    tables = extract_rows(
        {"bad.py": "def broken(:\n    pass\n", "good.py": "import os\nos.getcwd()\n"}, select=SELECT
    )
    assert [r["path"] for r in tables["modules"]] == ["good.py"]
    assert [(r["path"], r["extractor"], r["kind"]) for r in tables["errors"]] == [
        ("bad.py", "parse", "syntax")
    ]
    assert tables["calls"][0]["resolved"] == "os.getcwd"


# -- helpers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "is_package", "level", "name", "expected"),
    [
        ("pkg.sub.mod", False, 1, None, "pkg.sub"),
        ("pkg.sub.mod", False, 2, "x", "pkg.x"),
        ("pkg.sub.mod", False, 3, "x", None),
        ("pkg.sub", True, 1, "mod", "pkg.sub.mod"),
        ("pkg.sub", True, 2, None, "pkg"),
        ("pkg.sub", True, 3, None, None),
        ("top", False, 1, None, None),
        (None, False, 1, "x", None),
        (None, False, 0, "os", "os"),
    ],
)
def test_resolve_relative(
    module: str | None, is_package: bool, level: int, name: str | None, expected: str | None
) -> None:
    assert imports.resolve_relative(module, is_package, level, name) == expected


def test_module_name_fallback() -> None:
    def src(path: str) -> SourceFile:
        return SourceFile(repo="r", path=path, data=b"", sha256=None, size=0, language="python")

    assert scopes.module_name(src("a/b/tool.py")) == "tool"
    assert scopes.module_name(src("a/b/__init__.py")) == "b"


# -- walk once -----------------------------------------------------------------------------------------


def test_extractors_never_walk_the_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an extractor walked the tree itself")

    monkeypatch.setattr(ast, "walk", forbidden)
    monkeypatch.setattr(ast, "iter_child_nodes", forbidden)
    monkeypatch.setattr(ast.NodeVisitor, "visit", forbidden)
    monkeypatch.setattr(ast.NodeVisitor, "generic_visit", forbidden)
    before = SourceFile.traversals
    tables = [extract_rows(FIXTURES / case, select=SELECT) for case in CASES]
    assert SourceFile.traversals - before == len(list(FIXTURES.glob("*/**/*.py")))
    assert not [e for t in tables for e in t["errors"]]
    assert sum(len(t["calls"]) for t in tables) > 50


def test_no_walking_in_the_source() -> None:
    """Paths the fixtures miss must not walk either."""
    core = (modules, defs, core_imports, core_calls, assignments)
    for module in (*core, calls, imports, resolve, scopes, spans, values):
        text = inspect.getsource(module)
        for word in ("ast.walk", "NodeVisitor", "NodeTransformer", "iter_child_nodes", "generic_visit"):
            assert word not in text, f"{module.__name__} uses {word}"


def _reference_index(tree: ast.AST) -> tuple[dict[type, list[ast.AST]], dict[ast.AST, ast.AST]]:
    """What the node index must hold, computed the slow obvious way (a test may walk)."""
    index: dict[type, list[ast.AST]] = {}
    parents: dict[ast.AST, ast.AST] = {}
    stack = [tree]
    while stack:
        node = stack.pop()
        index.setdefault(type(node), []).append(node)
        kids = [c for c in ast.iter_child_nodes(node) if type(c) not in _SKIP]
        for kid in kids:
            parents[kid] = node
        stack.extend(reversed(kids))
    return index, parents


def _stdlib_sample(every: int) -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts)
    return files[::every]


def test_node_index_matches_a_full_walk() -> None:
    """The index skips fields known to hold no nodes; it must still see every node, in pre-order."""
    paths = sorted(FIXTURES.rglob("*.py")) + _stdlib_sample(40)
    for path in paths:
        data = path.read_bytes()
        src = SourceFile(repo="r", path=str(path), data=data, sha256=None, size=len(data), language="python")
        try:
            tree = src.tree
        except Exception:
            continue
        index, parents = _reference_index(tree)
        for tp, nodes in index.items():
            assert src.nodes(tp) == nodes, (path, tp)
        assert src.parents == parents, path


# -- a real corpus ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_stdlib_counts() -> None:
    """Over the whole standard library: no extractor error, and one row per node of each kind."""
    root = Path(sysconfig.get_paths()["stdlib"])
    tables = extract_rows(root, select=SELECT, exclude=["site-packages"])
    errors = tables["errors"]
    assert [e for e in errors if e["extractor"] not in ("parse", "read")] == []
    expected: Counter[str] = Counter()
    failed = {e["path"] for e in errors}
    paths = [f["path"] for f in tables["files"] if f["language"] == "python"]
    assert len(paths) > 1000
    for path in paths:
        if path in failed or not os.path.isfile(root / path):
            continue
        with warnings.catch_warnings():  # invalid escapes in test data files
            warnings.simplefilter("ignore")
            tree = ast.parse((root / path).read_bytes())
        expected["modules"] += 1
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                expected["functions"] += 1
            elif isinstance(node, ast.ClassDef):
                expected["classes"] += 1
            elif isinstance(node, ast.Call):
                expected["calls"] += 1
            elif isinstance(node, ast.Import | ast.ImportFrom):
                expected["imports"] += len(node.names)
    for name in ("modules", "functions", "classes", "calls", "imports"):
        assert len(tables[name]) == expected[name], name
    resolved = [r["resolved"] for r in tables["calls"]]
    assert sum(r is not None for r in resolved) > len(resolved) // 3
