"""Syntax newer than the interpreter: facts from 3.12-3.14 files on 3.11, checked against a newer ``ast``.

The fixtures under ``tests/fixtures/newer/syntax`` hold every syntax addition of Python 3.12-3.14
(PEP 695, 696, 701, 750, 758). The oracle is a newer interpreter found under ``~/.pyenv/versions``
running ``tests/newer_oracle.py`` in a subprocess; tests that need it skip when none is installed.
Files of 3.14 syntax are compared with a 3.13 oracle in their 3.13 spelling (``except (A, B):``,
``f"..."`` for ``t"..."``), which keeps every line where it was.
"""

from __future__ import annotations

import ast
import contextlib
import glob
import json
import os
import re
import subprocess
import sys
import sysconfig
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codequarry import extract, make_plan, open_store, sql
from codequarry.pyparse.fallback import NotNewer, convert, parse_newer, parser_name
from codequarry.source import ParseFailure, SourceFile, decode_python
from codequarry.testing import examples
from tests import paths
from tests.pyparse.newer_oracle import facts, normalise

FIXTURES = paths.FIXTURES / "newer"
SYNTAX = FIXTURES / "syntax"
CASES = sorted(p.stem for p in SYNTAX.glob("*.py"))
#: the first Python whose own ``ast`` accepts each fixture
NEEDS = {"pep695": (3, 12), "pep696": (3, 13), "pep701": (3, 12), "pep750": (3, 14), "pep758": (3, 14)}
RUNNING = f"{sys.version_info[0]}.{sys.version_info[1]}"
MODEL_PLUGINS = [
    "codequarry.extractors.python.models.classes",
    "codequarry.extractors.python.models.operations",
]


def newer_python(at_least: tuple[int, int] = (3, 13)) -> str | None:
    """The newest pyenv interpreter at or above ``at_least`` (3.13 by default), or None."""
    found = []
    for exe in glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3")):
        match = re.search(r"/3\.(\d+)\.", exe)
        if match and (3, int(match.group(1))) >= at_least:
            found.append((int(match.group(1)), exe))
    return max(found)[1] if found else None


def spelled_for_313(text: str) -> str:
    """The 3.13 spelling of this file's 3.14 constructs, line for line."""
    text = re.sub(r"except(\*?) ([\w.]+(?:, [\w.]+)+):", r"except\1 (\2):", text)
    return re.sub(r'\bt"', 'f"', text)


@cache
def oracle(case: str) -> dict[str, Any]:
    """What a newer interpreter's ``ast`` says about a fixture (skips when there is none)."""
    exe = newer_python(NEEDS[case]) or newer_python()
    if exe is None:
        pytest.skip("no Python >= 3.13 under ~/.pyenv/versions to serve as the oracle")
    text = (SYNTAX / f"{case}.py").read_text(encoding="utf-8")
    version = subprocess.run(
        [exe, "-c", "import sys; print(sys.version_info[1])"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if (3, int(version)) < NEEDS[case]:
        text = spelled_for_313(text)
    script = Path(__file__).parent / "newer_oracle.py"
    done = subprocess.run(
        [exe, "-I", str(script), "/dev/stdin"], input=text, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)["/dev/stdin"]  # type: ignore[no-any-return]


def source(path: Path) -> SourceFile:
    data = path.read_bytes()
    return SourceFile(repo="r", path=path.name, data=data, sha256=None, size=len(data), language="python")


@cache
def syntax_store(tmp: str) -> Any:
    store = Path(tmp) / "store"
    extract(make_plan([SYNTAX], store=store, workers=1))
    return open_store(store)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return syntax_store(str(tmp_path_factory.mktemp("newer")))


def rows(store: Any, query: str) -> list[dict[str, Any]]:
    return sql(store, query).to_pylist()  # type: ignore[no-any-return]


def strip_positions(tree: Any) -> Any:
    if isinstance(tree, list):
        return [strip_positions(t) for t in tree]
    if isinstance(tree, dict):
        return {k: strip_positions(v) for k, v in tree.items() if k != "@"}
    return tree


# -- every fixture against the newer interpreter's ast ------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_running_parser_rejects_every_fixture(case: str) -> None:
    """The premise: each fixture is syntax the running interpreter cannot parse."""
    if sys.version_info[:2] >= NEEDS[case]:
        pytest.skip(f"this interpreter already parses {case}")
    with pytest.raises(SyntaxError):
        ast.parse((SYNTAX / f"{case}.py").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", CASES)
def test_tree_matches_newer_ast(case: str) -> None:
    """The whole tree, normalised (documented approximations only), equals the newer ``ast``'s."""
    want = oracle(case)
    src = source(SYNTAX / f"{case}.py")
    got = normalise(src.tree)
    assert src.parser.startswith("tree-sitter-python ")
    if spelled_for_313(src.text) != src.text:  # 3.14 constructs respelled: columns moved, lines kept
        assert strip_positions(got) == strip_positions(want["tree"])
    else:
        assert got == want["tree"]


@pytest.mark.parametrize("case", CASES)
def test_tables_match_newer_ast(case: str, store: Any) -> None:
    """functions, classes, imports and calls rows of a real extract: the names and lines the oracle finds."""
    want = oracle(case)["facts"]
    path = f"'{case}.py'"
    got = {
        "functions": [
            [r["name"], r["line"]]
            for r in rows(store, f"SELECT name, line FROM functions WHERE path = {path}")
        ],
        "classes": [
            [r["name"], r["line"]] for r in rows(store, f"SELECT name, line FROM classes WHERE path = {path}")
        ],
        "imports": [
            [r["module"], r["name"], r["line"]]
            for r in rows(store, f"SELECT module, name, line FROM imports WHERE path = {path}")
        ],
        "calls": [
            [r["callee"], r["line"]]
            for r in rows(store, f"SELECT callee, line FROM calls WHERE path = {path}")
            if re.fullmatch(r"[\w.]+", r["callee"])
        ],
    }
    assert {k: sorted(v, key=repr) for k, v in got.items()} == want
    assert all(want[k] for k in ("functions", "imports", "calls")), "a fixture that proves nothing"


# -- what the store says about these files --------------------------------------------------------


def test_parser_column(store: Any) -> None:
    got = {r["path"]: r["parser"] for r in rows(store, "SELECT path, parser FROM modules")}
    assert set(got) == {f"{c}.py" for c in CASES}
    assert all(p.startswith("tree-sitter-python 0.") for p in got.values()), got


def test_partial_rows_say_what_is_approximated(store: Any) -> None:
    """One ``partial`` row per approximated construct and file, naming the version the file needs;
    the exact conversions (PEP 701 f-strings, PEP 758 except) leave no row; nothing is a syntax error."""
    found = rows(store, "SELECT path, kind, line, message FROM errors ORDER BY path, line")
    assert {r["kind"] for r in found} == {"partial"}
    by_path: dict[str, list[str]] = {}
    for r in found:
        by_path.setdefault(r["path"], []).append(r["message"])
    assert set(by_path) == {"pep695.py", "pep696.py", "pep750.py"}
    assert any(
        m.startswith("type alias statement (PEP 695): `type X = ...` is stored as the assignment")
        for m in by_path["pep695.py"]
    )
    assert any(
        "generic function (PEP 695): the type parameters of a generic function are dropped (3 times" in m
        for m in by_path["pep695.py"]
    )
    assert all(
        "valid in Python 3.12+ " in m and f"this quarry runs on {RUNNING}" in m for m in by_path["pep695.py"]
    )
    assert all("valid in Python 3.13+ (type parameter default (PEP 696)" in m for m in by_path["pep696.py"])
    assert by_path["pep750.py"] == [
        "t-string (PEP 750): a t-string is stored as an f-string (JoinedStr), not a Template (2 times, first "
        f"here); the file is valid in Python 3.14+ (t-string (PEP 750), line 6); this quarry runs on {RUNNING}, "
        f"so its facts come from {parser_name()}"
    ]


def test_django_models_in_a_312_file(tmp_path: Path) -> None:
    """djangoproject.com's checklists/models.py case: one 3.12 f-string used to hide all 8 models."""
    store = tmp_path / "store"
    extract(make_plan([FIXTURES / "djangoapp"], store=store, workers=1, plugins=MODEL_PLUGINS))
    db = open_store(store)
    models = rows(db, "SELECT name, framework FROM orm_models ORDER BY line")
    assert [(r["name"], r["framework"]) for r in models] == [
        (n, "django")
        for n in ("Grant", "Checklist", "Section", "Item", "Reviewer", "Review", "Attachment", "Deadline")
    ]
    fields = rows(db, "SELECT count(*) AS n FROM orm_fields")
    assert fields[0]["n"] >= 17
    assert rows(db, "SELECT count(*) AS n FROM errors")[0]["n"] == 0
    parser = rows(db, "SELECT parser FROM modules WHERE path = 'checklists/models.py'")
    assert parser[0]["parser"].startswith("tree-sitter-python")
    assert rows(db, "SELECT parser FROM modules WHERE path = 'checklists/__init__.py'")[0]["parser"] == "ast"


# -- what stays a syntax error, and what its message says ----------------------------------------


def test_syntax_errors_stay_errors(tmp_path: Path) -> None:
    (tmp_path / "py2.py").write_text('print "hello"\n')
    (tmp_path / "lenient.py").write_text("def f():\n    pass\nf() = 1\n")  # tree-sitter accepts this
    (tmp_path / "mixed.py").write_text('type Alias = int\nprint "hello"\n')
    (tmp_path / "mixed2.py").write_text("def f[T](x: T):\n    return x +\n")
    (tmp_path / "fine.py").write_text("x = 1\n")
    store = tmp_path / "store"
    extract(make_plan([tmp_path], store=store, workers=1))
    db = open_store(store)
    errors = {r["path"]: r for r in rows(db, "SELECT path, kind, line, message FROM errors")}
    assert {p: e["kind"] for p, e in errors.items()} == dict.fromkeys(
        ("py2.py", "lenient.py", "mixed.py", "mixed2.py"), "syntax"
    )
    assert errors["py2.py"]["message"] == "Missing parentheses in call to 'print'. Did you mean print(...)?"
    assert (
        "valid in" not in errors["lenient.py"]["message"]
        and "uses Python" not in errors["lenient.py"]["message"]
    )
    assert (
        f"uses Python 3.12+ syntax (type alias statement (PEP 695), line 1); this quarry runs on {RUNNING}, "
        "and the fallback parser failed: Python 2 print or exec statement"
    ) in errors["mixed.py"]["message"]
    assert "uses Python 3.12+ syntax (generic function (PEP 695), line 1)" in errors["mixed2.py"]["message"]
    assert "tree-sitter-python also finds a syntax error at line 2" in errors["mixed2.py"]["message"]
    assert [r["path"] for r in rows(db, "SELECT path FROM modules")] == ["fine.py"]


def test_newer_constructs_become_their_closest_311_nodes() -> None:
    found = parse_newer(
        "type A[T] = list[T]\n"
        "def f[T](x: T) -> T:\n"
        "    try:\n        pass\n    except KeyError, ValueError:\n        pass\n"
        "    return t'{x!r:>{w}}'\n"
    )
    assert ast.unparse(found.tree) == (
        "A = list[T]\n\ndef f(x: T) -> T:\n    try:\n        pass\n    except (KeyError, ValueError):\n"
        "        pass\n    return f'{x!r:>{w}}'"
    )
    assert found.since == (3, 14)
    compile(found.tree, "<converted>", "exec", dont_inherit=True)  # a valid 3.11 tree, never run


def test_parse_failure_keeps_the_interpreters_position() -> None:
    """When the fallback fails too, the row points where the running parser stopped."""
    data = b"x = 1\ntype A = int\nprint 'x'\n"
    src = SourceFile(repo="r", path="m.py", data=data, sha256=None, size=len(data), language="python")
    with pytest.raises(ParseFailure) as info:
        _ = src.tree
    assert info.value.line == 2 and "uses Python 3.12+" in info.value.message


# -- the converter is complete: the stdlib, forced through it, gives ast.parse's exact trees --------


def stdlib_files() -> list[str]:
    root = sysconfig.get_paths()["stdlib"]
    return sorted(
        p for p in glob.glob(os.path.join(root, "**", "*.py"), recursive=True) if "site-packages" not in p
    )


def _compare(paths: list[str]) -> tuple[int, list[str], list[str]]:
    """(files equal, files different, files tree-sitter cannot parse) over ``paths``."""
    same, diff, failed = 0, [], []
    for path in paths:
        outcome = _outcome(path)
        if outcome == "same":
            same += 1
        elif outcome == "diff":
            diff.append(path)
        elif outcome == "failed":
            failed.append(path)
    return same, diff, failed


@cache  # the whole-stdlib test reuses the sample's files (a word per file)
def _outcome(path: str) -> str:
    """How ``path`` converts: "same", "diff", "failed" (tree-sitter cannot parse it) or "invalid"
    (not valid for this interpreter either: lib2to3 test data, bad encodings)."""
    try:
        text = decode_python(Path(path).read_bytes())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # invalid escapes in old test data
            want = ast.dump(ast.parse(text), include_attributes=True)
    except (SyntaxError, ValueError, ParseFailure):
        return "invalid"
    try:
        got = ast.dump(convert(text)[0], include_attributes=True)
    except NotNewer:
        return "failed"
    return "same" if got == want else "diff"


#: shapes tree-sitter-python groups differently from Python, each found on a real corpus
TRICKY = [
    "x = ~1 ^ 1 & 1 | 1 & 1 ^ -1\n",  # bitwise precedence
    "y = -a ** -b * c ** d ** e\n",
    "w: list[str] | None | int = None\n",  # union chains in annotations
    "a = b, *c[1:]\n",  # star over a trailer
    "t = tuple[*tuple[int, ...]]\n",
    "type(self).x[1].y = 1\n",  # not a type alias
    "with (open(p) as f):\n    pass\n",
    "f(),\n",
    "def f(): a; del x;\n",
    "match x,:\n    case a, b,:\n        pass\n",
    "match x:\n    case ast.Expr(value=ast.Constant(value=str() as doc)) if y:\n        pass\n",
    "while (e := a.b if c is not None else None):\n    pass\n",
    "s = f'{x:=10}' f'{a, b}' f'{ x = }' f'{y!r:>{w}.{p}}' 'tail'\n",
    "r = r'\\\\\\\\' u'\\N{EM DASH}' '\\d'\nb = b'\\x00' rb'\\\\'\n",
    "async def g():\n    return [x async for x in y if await z], await a(), b\n",
    "def h(a, /, b: int = 1, *args: int, c, d=2, **kw: str) -> None:\n    pass\n",
    "case = match = type = _ = 1\n",
    "with (a if b else c as d, e or f as g):\n    pass\n",  # ``as`` attached to the last operand
    "m = f'{a.b(),!r}' f'{a, b = }' f'{a,b:>3}'\n",  # bare tuples in f-strings: 3.11's implied parens
]


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_shapes_convert_exactly(text: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        want = ast.dump(ast.parse(text), include_attributes=True)
    assert ast.dump(convert(text)[0], include_attributes=True) == want


def test_stdlib_sample_converts_exactly() -> None:
    """Every 12th stdlib file: the converter's tree is ``ast.parse``'s, positions included."""
    same, diff, failed = _compare(stdlib_files()[::12])
    assert same > 100
    assert diff == []
    assert len(failed) <= 1, failed


@pytest.mark.slow
def test_whole_stdlib_converts_exactly() -> None:
    """All of it; the few files tree-sitter-python 0.25 misreads are listed in docs/newer-syntax.md."""
    same, diff, failed = _compare(stdlib_files())
    assert same > 1500
    assert diff == []
    assert len(failed) <= 0.005 * same, failed


def test_python2_except_is_no_version_hint(tmp_path: Path) -> None:
    """``except E, e:`` is PEP 758 in 3.14 and a binding in Python 2: with Python 2 syntax around it,
    the message does not send the user to 3.14."""
    data = b"try:\n    pass\nexcept ValueError, e:\n    print 'bad', e\nx = 0777L\n"
    src = SourceFile(repo="r", path="old.py", data=data, sha256=None, size=len(data), language="python")
    with pytest.raises(ParseFailure) as info:
        _ = src.tree
    assert "3.14" not in info.value.message and "this quarry runs on" not in info.value.message


def test_fastapi_routes_and_auth_through_newer_syntax(tmp_path: Path) -> None:
    """The FastAPI template's case: deps.py (3.14 ``except A, B:``) holds the auth dependency that
    every route's ``auth`` column comes from; items.py (3.12) holds the routes."""
    store = tmp_path / "store"
    extract(make_plan([FIXTURES / "fastapiapp"], store=store, workers=1))
    db = open_store(store)
    routes = rows(db, "SELECT methods, full_path, handler, auth FROM routes ORDER BY full_path")
    assert routes == [
        {
            "methods": ["GET"],
            "full_path": "/api/v1/items/",
            "handler": "app.api.items.read_items",
            "auth": ["get_current_user"],
        },
        {
            "methods": ["POST"],
            "full_path": "/api/v1/items/{item_id}",
            "handler": "app.api.items.update_item",
            "auth": ["get_current_user"],
        },
    ]
    parsers = {r["path"]: r["parser"].split()[0] for r in rows(db, "SELECT path, parser FROM modules")}
    assert parsers == {
        "app/__init__.py": "ast",
        "app/api/__init__.py": "ast",
        "app/main.py": "ast",
        "app/api/deps.py": "tree-sitter-python",
        "app/api/items.py": "tree-sitter-python",
    }


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # invalid escapes the damage makes
@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    case=st.sampled_from(CASES),
    cut=st.integers(0, 10_000),
    size=st.integers(0, 40),
    insert=st.sampled_from(
        ["", "(", ")", ":", "'", '"', "\\", "{", "}", "\n", " ", ",", "=", "*", "[", "f'"]
    ),
)
def test_damaged_newer_files_never_crash(case: str, cut: int, size: int, insert: str) -> None:
    """Whatever a file of newer syntax is cut into, the tree is an ``ast.Module`` or a ParseFailure,
    never another exception (the converter's failures are the file's loss only)."""
    text = (SYNTAX / f"{case}.py").read_text(encoding="utf-8")
    cut %= len(text) + 1
    data = (text[:cut] + insert + text[cut + size :]).encode()
    src = SourceFile(repo="r", path="x.py", data=data, sha256=None, size=len(data), language="python")
    try:
        tree = src.tree
    except ParseFailure as exc:
        assert exc.kind == "syntax" and exc.message
        return
    assert isinstance(tree, ast.Module)
    with contextlib.suppress(SyntaxError):  # ``return`` outside a function: semantics, not structure
        compile(tree, "<damaged>", "exec", dont_inherit=True)  # a well-formed tree; nothing is run


@pytest.mark.slow
def test_newer_stdlib_files_match_newer_ast() -> None:
    """A real corpus of newer syntax: the files of a newer Python's own standard library that 3.11's
    parser rejects. Their facts equal the newer ``ast``'s in every file; their normalised trees in
    all but a few (3.11's span of a bare tuple in an f-string, surrogate pairs JSON merges)."""
    exe = newer_python()
    if exe is None:
        pytest.skip("no Python >= 3.13 under ~/.pyenv/versions")
    root = subprocess.run(
        [exe, "-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    rejected = []
    for path in sorted(glob.glob(os.path.join(root, "**", "*.py"), recursive=True)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ast.parse(Path(path).read_text(encoding="utf-8"))
        except SyntaxError:
            rejected.append(path)
        except (UnicodeDecodeError, ValueError):
            continue
    code = (
        f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); from newer_oracle import describe\n"
        "out = {}\nfor p in sys.argv[1:]:\n    try:\n        out[p] = describe(open(p, encoding='utf-8').read())\n"
        "    except SyntaxError:\n        pass\nprint(json.dumps(out))"
    )
    want = json.loads(
        subprocess.run([exe, "-I", "-c", code, *rejected], capture_output=True, text=True, check=True).stdout
    )
    assert len(want) >= 10, "the newer stdlib should hold files of newer syntax"
    trees = 0
    for path, expected in want.items():
        try:
            tree = source(Path(path)).tree
        except ParseFailure as exc:
            assert "encoding" in exc.message or "decode" in exc.message, (path, exc.message)
            continue
        assert facts(tree) == expected["facts"], path
        trees += normalise(tree) == expected["tree"]
    assert trees >= 0.8 * len(want)


def test_a_revised_parse_product_re_runs_its_extractors_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store made before the fallback parser existed holds no facts of newer-syntax files: the ast
    product's revision makes every extractor that needs it run again once, then runs are no-ops."""
    from codequarry import api, extract, make_plan

    tree = tmp_path / "t"
    tree.mkdir()
    (tree / "new.py").write_text("type X = int\n\ndef f():\n    pass\n")
    (tree / "old.py").write_text("def g():\n    pass\n")
    store = tmp_path / "s"
    monkeypatch.setitem(api.PRODUCT_REVISIONS, "ast", 1)
    first = extract(make_plan([tree], store=store, workers=1, select=["python.core"]))
    assert first.published
    monkeypatch.setitem(api.PRODUCT_REVISIONS, "ast", 2)
    second = extract(make_plan([tree], store=store, workers=1, select=["python.core"]))
    assert set(second.rerun["t"]) == {
        "python.core.assignments",
        "python.core.calls",
        "python.core.classes",
        "python.core.functions",
        "python.core.imports",
        "python.core.modules",
    }
    third = extract(make_plan([tree], store=store, workers=1, select=["python.core"]))
    assert not third.published and not third.rerun


def test_a_bare_try_in_a_newer_file_is_a_syntax_error_row_not_a_crash() -> None:
    """tree-sitter-python accepts ``try:`` with no handler; ``ast`` has no such tree. Found by the
    damaged-file test above (a cut of pep758.py): the file is a syntax failure naming the cause."""
    data = b"try:\n    pass\nexcept A, B:\n    pass\ntry:\n    x = 1\n"
    src = SourceFile(repo="r", path="x.py", data=data, sha256=None, size=len(data), language="python")
    with pytest.raises(ParseFailure) as caught:
        _ = src.tree
    assert caught.value.kind == "syntax"
    assert "neither except nor finally" in caught.value.message
