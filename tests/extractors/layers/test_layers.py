"""The Python structural layers (python.layers.*): golden rows per layer, and how they behave.

Golden files: ``tests/fixtures/layers/<case>/`` is a small source tree, ``<case>.<layer>.expected.json``
its rows per dataset of that layer, in the order the extractor writes them (provenance ``repo`` and
``sha256``, and the interpreter's version columns, left out). After an intended change, regenerate with
``pytest tests/extractors/layers/test_layers.py --update-golden`` and review the diff.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from codequarry import extract, make_plan, open_store, sql
from codequarry.plan import select_nodes
from codequarry.registry import load_catalog
from codequarry.testing import assert_golden, extract_rows
from tests import paths

FIXTURES = paths.FIXTURES / "layers"
CASES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
LAYERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "symtable": ("python.layers.symtable", ("symtable_scopes", "symtable_symbols")),
    "bytecode": ("python.layers.bytecode", ("bytecode_code_units", "bytecode_instructions")),
    "ast": ("python.layers.ast", ("ast_nodes", "ast_edges")),
    "cst": (
        "python.layers.cst",
        ("cst_qualified_names", "cst_scopes", "cst_accesses", "cst_assignments"),
    ),
    "parse_manifest": ("python.layers.parse_manifest", ("parse_manifest",)),
}
#: columns that name the machine rather than the code
VOLATILE = {"repo", "sha256", "python", "magic", "parser_version", "feature_version"}
HAS_LIBCST = importlib.util.find_spec("libcst") is not None


def run_layers(tree: Path, *layers: str) -> dict[str, list[dict[str, Any]]]:
    return extract_rows(tree, select=[LAYERS[name][0] for name in layers])


@cache
def case_rows(case: str) -> dict[str, list[dict[str, Any]]]:
    layers = [name for name in LAYERS if name != "cst" or HAS_LIBCST]
    return run_layers(FIXTURES / case, *layers)


def _skip_reason(layer: str) -> str | None:
    if layer == "bytecode" and sys.version_info[:2] != (3, 11):
        return "bytecode goldens are CPython 3.11 bytecode"
    if layer == "cst" and not HAS_LIBCST:
        return "libcst is not installed"
    return None


@pytest.mark.parametrize("layer", sorted(LAYERS))
@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, layer: str) -> None:
    reason = _skip_reason(layer)
    if reason:
        pytest.skip(reason)
    tables = case_rows(case)
    assert not tables["errors"], tables["errors"]
    datasets = LAYERS[layer][1]
    for name in datasets:
        rows = tables[name]
        assert rows, f"{layer} wrote no {name} rows for {case}"
        assert all(r["repo"] == case and len(r["sha256"]) == 64 for r in rows)
    expected_file = FIXTURES / f"{case}.{layer}.expected.json"
    assert_golden(tables, expected_file, datasets=datasets, drop=VOLATILE, sort=False)


# -- behaviour -------------------------------------------------------------------------------------


def rows_of(case: str, dataset: str, **match: Any) -> list[dict[str, Any]]:
    return [r for r in case_rows(case)[dataset] if all(r[k] == v for k, v in match.items())]


def test_symbol_flags_name_what_the_compiler_decided() -> None:
    scopes = {r["qualname"]: r for r in rows_of("scopes", "symtable_scopes")}
    inner, outer = scopes["outer.<locals>.inner"], scopes["outer"]
    assert inner["parent_id"] == outer["scope_id"] and inner["is_nested"]
    assert scopes["outer.<locals>.listcomp"]["scope_type"] == "function"
    assert scopes["Box"]["scope_type"] == "class" and scopes[""]["scope_type"] == "module"

    def sym(qualname: str, name: str) -> dict[str, Any]:
        (row,) = rows_of("scopes", "symtable_symbols", scope_id=scopes[qualname]["scope_id"], name=name)
        return row

    assert sym("outer", "total")["is_cell"] and not sym("outer", "total")["is_free"]
    assert (
        sym("outer.<locals>.inner", "total")["is_free"]
        and sym("outer.<locals>.inner", "total")["is_nonlocal"]
    )
    assert sym("outer", "counter")["is_declared_global"] and sym("outer", "counter")["is_global"]
    assert sym("outer.<locals>.inner", "counter")["is_global"]
    assert not sym("outer.<locals>.inner", "counter")["is_declared_global"]
    assert all(sym("outer", p)["is_parameter"] for p in ("a", "b", "args", "c", "kwargs"))
    assert sym("", "os")["is_imported"] and sym("", "Fn")["is_imported"]
    assert sym("", "counter")["is_annotated"] and sym("Box", "size")["is_annotated"]
    assert sym("", "outer")["is_namespace"] and sym("", "outer")["is_assigned"]
    assert sym("Box.grow", "__class__")["is_free"]  # super() reads the class cell the compiler adds


def test_bytecode_units_and_instructions_agree() -> None:
    if sys.version_info[:2] != (3, 11):
        pytest.skip("checks 3.11 opcodes")
    units = {r["qualname"]: r for r in rows_of("scopes", "bytecode_code_units")}
    assert {
        "<module>",
        "outer",
        "outer.<locals>.inner",
        "outer.<locals>.<listcomp>",
        "Box",
        "Box.grow",
    } <= set(units)
    outer = units["outer"]
    assert (outer["argcount"], outer["posonlyargcount"], outer["kwonlyargcount"]) == (2, 1, 1)
    assert {"VARARGS", "VARKEYWORDS", "OPTIMIZED", "NEWLOCALS"} <= set(outer["flag_names"])
    assert all(u["optimize"] == 0 and u["python"].startswith("3.11") for u in units.values())
    ins = rows_of("scopes", "bytecode_instructions", unit_id=units["outer.<locals>.inner"]["unit_id"])
    assert len(ins) == units["outer.<locals>.inner"]["instructions"]
    assert any(i["opname"] == "LOAD_DEREF" and i["argrepr"] == "total" for i in ins)
    assert any(i["opname"] == "LOAD_GLOBAL" and i["argrepr"] == "counter" for i in ins)
    # code objects are shown without their memory address, so the rows are the same in every run
    consts = [i["argrepr"] for i in rows_of("scopes", "bytecode_instructions") if i["opname"] == "LOAD_CONST"]
    assert "<code inner, line 13>" in consts and not any(" at 0x" in c for c in consts)


def test_columns_count_characters_not_bytes() -> None:
    (call,) = [r for r in rows_of("unicode", "ast_nodes", node_type="Subscript")]
    line = (FIXTURES / "unicode" / "names.py").read_text(encoding="utf-8").splitlines()[call["line"] - 1]
    assert line[call["col"] : call["end_col"]] == 'naïve["ü"]'
    if sys.version_info[:2] == (3, 11):
        ins = rows_of("unicode", "bytecode_instructions", opname="BINARY_SUBSCR")
        assert [(i["col"], i["end_col"]) for i in ins] == [(call["col"], call["end_col"])]
    if HAS_LIBCST:
        (name,) = rows_of("unicode", "cst_accesses", name="naïve")
        assert line[name["col"] : name["end_col"]] == "naïve"


def test_ast_rows_are_a_tree_in_preorder() -> None:
    nodes = case_rows("flow")["ast_nodes"]
    edges = case_rows("flow")["ast_edges"]
    assert [n["node_id"] for n in nodes] == list(range(len(nodes)))
    assert len(edges) == len(nodes) - 1
    by_id = {n["node_id"]: n for n in nodes}
    for e in edges:
        child = by_id[e["child_id"]]
        assert (child["parent_id"], child["field"], child["field_index"]) == (
            e["parent_id"],
            e["field"],
            e["field_index"],
        )
        assert e["parent_id"] < e["child_id"] and child["depth"] == by_id[e["parent_id"]]["depth"] + 1
    tree = ast.parse((FIXTURES / "flow" / "control.py").read_text(encoding="utf-8"))
    assert [n["node_type"] for n in nodes] == [type(n).__name__ for n in _preorder(tree)]


def _preorder(node: ast.AST) -> list[ast.AST]:
    out = [node]
    for child in ast.iter_child_nodes(node):
        out.extend(_preorder(child))
    return out


def test_manifest_reads_bytes_as_written(tmp_path: Path) -> None:
    (tmp_path / "crlf.py").write_bytes(b"\xef\xbb\xbfif x:\r\n\tpass\r\ny = 1\n")
    (tmp_path / "latin.py").write_bytes(b"# -*- coding: latin-1 -*-\nname = '\xe9'\n")
    rows = {r["path"]: r for r in run_layers(tmp_path, "parse_manifest")["parse_manifest"]}
    crlf, latin = rows["crlf.py"], rows["latin.py"]
    assert (
        crlf["encoding"],
        crlf["has_bom"],
        crlf["newline"],
        crlf["newlines_mixed"],
        crlf["indentation"],
    ) == ("utf-8-sig", True, "\r\n", True, "\t")
    assert (latin["encoding"], latin["newline"], latin["indentation"], latin["parser"]) == (
        "iso-8859-1",
        "\n",
        None,
        "cpython",
    )


def test_manifest_names_the_fallback_parser_of_newer_syntax(tmp_path: Path) -> None:
    (tmp_path / "new.py").write_text(
        "type Pair[T] = tuple[T, T]\n\ndef first[T](p: Pair[T]) -> T:\n    return p[0]\n"
    )
    (tmp_path / "old.py").write_text("x = 1\n")
    rows = {r["path"]: r for r in run_layers(tmp_path, "parse_manifest")["parse_manifest"]}
    import tree_sitter_python

    assert rows["old.py"]["parser"] == "cpython" and rows["old.py"]["grammar_abi"] is None
    new = rows["new.py"]
    assert new["parser"] == "tree-sitter-python" and new["parser_version"] != rows["old.py"]["parser_version"]
    assert isinstance(new["grammar_abi"], int) and new["grammar_abi"] >= 13
    assert tree_sitter_python.language()  # the grammar the version names is installed


def test_what_only_the_compiler_refuses_costs_only_its_layers(tmp_path: Path) -> None:
    """ast.parse accepts `return` at module level and a parameter declared global; the compiler (and,
    for the second, the symbol table) does not. The file keeps its other tables, and each refusal is
    an errors row naming the layer, not a parse error of the file."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "odd.py").write_text("def f():\n    return 1\nreturn 2\n")
    (src / "clash.py").write_text("import os\ndef g(a):\n    global a\n")
    store = tmp_path / "store"
    extract(make_plan([src], store=store, select=["python.core", "python.layers"]))
    st = open_store(store)
    errors = sql(st, "SELECT path, extractor, kind, line FROM errors ORDER BY path, extractor").to_pylist()
    assert errors == [
        {"path": "clash.py", "extractor": "python.layers.bytecode", "kind": "syntax", "line": 3},
        {"path": "clash.py", "extractor": "python.layers.symtable", "kind": "syntax", "line": 3},
        {"path": "odd.py", "extractor": "python.layers.bytecode", "kind": "syntax", "line": 3},
    ]
    for table in ("modules", "functions", "imports", "ast_nodes", "parse_manifest"):
        paths = set(sql(st, f"SELECT DISTINCT path FROM {table}").column("path").to_pylist())
        assert "clash.py" in paths, table
    assert set(sql(st, "SELECT DISTINCT path FROM symtable_scopes").column("path").to_pylist()) == {"odd.py"}
    assert set(sql(st, "SELECT DISTINCT path FROM bytecode_code_units").column("path").to_pylist()) == set()


def test_only_parse_manifest_runs_by_default() -> None:
    catalog = load_catalog(entry_points_enabled=False)
    default = {e.name for e in select_nodes(catalog).extractors if e.name.startswith("python.layers")}
    assert default == {"python.layers.parse_manifest"}
    chosen = {e.name for e in select_nodes(catalog, ["python.layers"]).extractors} - {"core.files"}
    assert chosen == {f"python.layers.{n}" for n in ("ast", "bytecode", "cst", "parse_manifest", "symtable")}


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_new_scope_types_are_named_as_the_interpreter_names_them(version: str) -> None:
    """On 3.12+ (when such an interpreter is installed) the scope walker, which uses only the
    standard library, reports type-parameter and type-alias scopes without knowing their names."""
    python = _find_python(version)
    if python is None:
        pytest.skip(f"no Python {version} installed")
    walker = paths.ROOT / "src" / "codequarry" / "extractors" / "layers" / "symtable_walk.py"
    program = (
        "import importlib.util, json, symtable, sys\n"
        f"spec = importlib.util.spec_from_file_location('w', {str(walker)!r})\n"
        "w = importlib.util.module_from_spec(spec); spec.loader.exec_module(w)\n"
        "top = symtable.symtable('class A[T]:\\n    type X = list[T]\\n    def f[U](self, u: U): pass\\n', 'x', 'exec')\n"
        "rows = []\n"
        "for sid, parent, table, qual in w.walk(top):\n"
        "    syms = []\n"
        "    w.symbol_rows(table, lambda *r: syms.append(r[1]), sid)\n"
        "    rows.append([sid, parent, w.scope_type(table), table.get_name(), sorted(syms)])\n"
        "print(json.dumps(rows))\n"
    )
    done = subprocess.run([python, "-c", program], capture_output=True, text=True, timeout=60, check=True)
    rows = json.loads(done.stdout)
    types = [r[2] for r in rows]
    assert types[0] == "module" and "class" in types and "function" in types
    assert "type alias" in types
    assert any(t.startswith("type param") for t in types)  # 'type parameter' (3.12), 'type parameters' (3.13)
    generic = next(r for r in rows if r[2].startswith("type param") and r[3] == "A")
    assert "T" in generic[4]


def _find_python(version: str) -> str | None:
    """An interpreter of that version that runs (a pyenv shim of an inactive version does not)."""
    import shutil

    candidates = [
        str(p / "bin" / "python") for p in sorted((Path.home() / ".pyenv" / "versions").glob(f"{version}.*"))
    ]
    candidates.append(shutil.which(f"python{version}") or "")
    for candidate in filter(None, candidates):
        try:
            done = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except OSError:
            continue
        if done.returncode == 0 and done.stdout.strip() == str(tuple(int(v) for v in version.split("."))):
            return candidate
    return None


def test_row_buffer_blocks_truncate_and_build_in_order() -> None:
    """Blocks given whole (the bytecode layer's way) keep the row buffer's contract: ``n`` counts
    them, ``truncate`` drops a failed file's rows (inside a block too), a deferred block is made
    only at build time, and a buffer never mixes blocks with list rows."""
    import pyarrow as pa

    from codequarry.errors import SchemaError
    from codequarry.extractors.layers.bytecode import CodeUnit
    from codequarry.schema import RowBuffer

    buf = RowBuffer(CodeUnit)
    fields = CodeUnit.fields

    def block(first: int, n: int) -> list[pa.Array]:
        values = {"qualname": "q", "name": "n", "python": "3", "magic": "m"}
        return [
            pa.array(
                [values.get(f.name, [] if f.name == "flag_names" else first + i) for i in range(n)], f.type
            )
            for f in fields
        ]

    made: list[int] = []

    class Later:
        def __len__(self) -> int:
            return 2

        def arrays(self) -> list[pa.Array]:
            made.append(1)
            return block(100, 2)

    buf.begin_file(0, ("r", "a.py", None))
    buf.add_arrays(block(0, 3))
    buf.begin_file(1, ("r", "b.py", None))
    buf.add_arrays(block(10, 4))
    buf.truncate(5)  # file b failed after two of its rows were counted
    buf.begin_file(2, ("r", "c.py", None))
    buf.add_arrays(Later())
    assert buf.n == 7 and not made
    with pytest.raises(SchemaError):
        buf.add_arrays(block(0, 1)[:-1])
    batch, problems = buf.build()
    assert made and not problems
    assert batch.column("unit_id").to_pylist() == [0, 1, 2, 10, 11, 100, 101]
    assert batch.column("path").to_pylist() == ["a.py"] * 3 + ["b.py"] * 2 + ["c.py"] * 2
    buf.add(**{f.name: b[0].as_py() for f, b in zip(fields, block(0, 1), strict=True)})
    with pytest.raises(SchemaError):
        buf.build()
