"""The Python layers against oracles that share no code with them, on the standard library.

Each layer's rows for a file are compared with what the standard library's own modules say about the
same file: ``symtable`` (public API) for scope and flag counts, ``dis`` over an independent compile for
instruction counts per code object, ``ast.walk`` for node counts, LibCST's own module attributes and
``ast`` for the LibCST layer. A sample of files runs in the default suite; every file under ``slow``.
"""

from __future__ import annotations

import ast
import collections
import dis
import os
import symtable
import sys
import sysconfig
import warnings
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import CodeType
from typing import Any

import pytest

from codequarry.testing import extract_rows
from tests.extractors.layers.test_layers import HAS_LIBCST, LAYERS

STDLIB = Path(sysconfig.get_paths()["stdlib"])
SAMPLE = 23  # every 23rd file in the default suite (about 80 files)
FLAGS = (
    "is_local",
    "is_global",
    "is_declared_global",
    "is_nonlocal",
    "is_free",
    "is_parameter",
    "is_imported",
    "is_assigned",
    "is_referenced",
    "is_annotated",
    "is_namespace",
)


@cache
def stdlib_files(step: int) -> tuple[Path, ...]:
    found: list[Path] = []
    for folder, dirs, files in os.walk(STDLIB):
        dirs[:] = sorted(d for d in dirs if d != "site-packages")
        found.extend(Path(folder, f) for f in sorted(files) if f.endswith(".py"))
    return tuple(found[::step])


#: the layers whose oracles run on the same files (``SAMPLE`` or all): extracted together, once
TOGETHER = ("symtable", "bytecode", "ast", "parse_manifest")


def layer_rows(layer: str, step: int) -> dict[str, list[dict[str, Any]]]:
    """The rows of ``layer``'s tables over every ``step``-th stdlib file.

    The layers of ``TOGETHER`` come from one extraction of all four (as ``quarry extract`` runs
    them), not one each: every file is read and parsed once instead of four times. Only the layers'
    own tables are kept, and of the large ones only the ``COLUMNS`` the oracles compare: the rows of
    the whole stdlib took ~12 GB whole. (``CST_SAMPLE``'s manifest stays on its own: nothing else
    reads those files.)"""
    layers = TOGETHER if layer in TOGETHER and step != CST_SAMPLE else (layer,)
    return _rows(layers, step)


@cache
def _rows(layers: tuple[str, ...], step: int) -> dict[str, list[dict[str, Any]]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        paths = [p.relative_to(STDLIB).as_posix() for p in stdlib_files(step)]
        select = [LAYERS[layer][0] for layer in layers]
        got = extract_rows(STDLIB, select=select, exclude=["site-packages"], paths=paths, columns=COLUMNS)
    return {name: got[name] for layer in layers for name in LAYERS[layer][1]}


INSTRUCTION_COLUMNS = (
    "unit_id",
    "offset",
    "opname",
    "arg",
    "argrepr",
    "is_jump_target",
    "line",
    "end_line",
    "col",
    "end_col",
)


#: the columns the oracles below compare, of the tables with millions of rows on the whole stdlib
#: (``ast_nodes`` has 14 columns, two compared): the rows of the others are whole
COLUMNS = {
    "symtable_scopes": ("path", "scope_id", "scope_type", "name"),
    "symtable_symbols": ("path", "scope_id", "is_cell", *FLAGS),
    "bytecode_code_units": ("path", "qualname", "firstlineno", "instructions"),
    "bytecode_instructions": ("path", *INSTRUCTION_COLUMNS[1:]),
    "ast_nodes": ("path", "node_type"),
    "ast_edges": ("path",),
}


@pytest.fixture(scope="module", autouse=True)
def _free_rows() -> Iterator[None]:
    """The whole-stdlib rows and code objects take gigabytes: let them go with this module."""
    yield
    _rows.cache_clear()
    _compile.cache_clear()


def by_path(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for row in rows:
        out[row["path"]].append(row)
    return out


def _source(path: Path) -> bytes:
    return path.read_bytes()


# -- symtable -------------------------------------------------------------------------------------


def _symtable_oracle(path: Path) -> tuple[collections.Counter[str], collections.Counter[str]] | None:
    """Scope types and symbol-flag counts of a file from the public symtable API."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            text = _source(path).decode(_encoding(path))
            top = symtable.symtable(text, str(path), "exec")
    except (SyntaxError, UnicodeDecodeError, ValueError, RecursionError, MemoryError):
        return None
    scopes: collections.Counter[str] = collections.Counter()
    flags: collections.Counter[str] = collections.Counter()
    stack = [top]
    while stack:
        table = stack.pop()
        scopes[str(table.get_type())] += 1
        if _misread(table.get_name(), str(table.get_type())):
            stack.extend(table.get_children())
            continue
        for sym in table.get_symbols():
            flags["symbols"] += 1
            for flag in FLAGS:
                flags[flag] += bool(getattr(sym, flag)())
        stack.extend(table.get_children())
    return scopes, flags


def _misread(name: str, scope_type: str) -> bool:
    """3.11's symtable module takes any scope named ``top`` for the module (``module_scope =
    name == "top"``), so a ``def top()`` gets module-level flags from it; the layer goes by the
    scope's type. Such scopes (poplib has one) are left out of the comparison."""
    return name == "top" and scope_type != "module"


def _encoding(path: Path) -> str:
    import io
    import tokenize

    return tokenize.detect_encoding(io.BytesIO(_source(path)).readline)[0]


def _check_symtable(step: int) -> None:
    rows = layer_rows("symtable", step)
    scopes, symbols = by_path(rows["symtable_scopes"]), by_path(rows["symtable_symbols"])
    checked = 0
    for path in stdlib_files(step):
        rel = path.relative_to(STDLIB).as_posix()
        oracle = _symtable_oracle(path)
        if oracle is None:
            assert rel not in scopes, f"{rel}: symtable refuses it, the layer did not"
            continue
        want_scopes, want_flags = oracle
        got_scopes = collections.Counter(r["scope_type"] for r in scopes[rel])
        skip = {r["scope_id"] for r in scopes[rel] if _misread(r["name"], r["scope_type"])}
        kept = [r for r in symbols[rel] if r["scope_id"] not in skip]
        got_flags: collections.Counter[str] = collections.Counter(symbols=len(kept))
        for flag in FLAGS:
            got_flags[flag] = sum(r[flag] for r in kept)
        assert got_scopes == want_scopes, rel
        assert +got_flags == +want_flags, rel
        checked += 1
    assert checked > len(stdlib_files(step)) * 0.9


def test_symtable_counts_agree_with_symtable_sample() -> None:
    _check_symtable(SAMPLE)


@pytest.mark.slow
def test_symtable_counts_agree_with_symtable_everywhere() -> None:
    _check_symtable(1)


def test_cells_agree_with_the_compiled_functions() -> None:
    """The symbol table's cells are the cell variables of the compiled function code objects (class
    bodies excluded: their ``__class__`` cell is added by the compiler, not the symbol table)."""
    rows = layer_rows("symtable", SAMPLE)
    scopes = {(r["path"], r["scope_id"]): r["scope_type"] for r in rows["symtable_scopes"]}
    cells = collections.Counter(
        r["path"]
        for r in rows["symtable_symbols"]
        if r["is_cell"] and scopes[(r["path"], r["scope_id"])] == "function"
    )
    for path in stdlib_files(SAMPLE):
        rel = path.relative_to(STDLIB).as_posix()
        module = _compile(path)
        if module is None or rel not in {p for p, _ in scopes}:
            continue
        want = sum(len(c.co_cellvars) for c in _code_objects(module) if c.co_flags & 1)  # CO_OPTIMIZED
        assert cells[rel] == want, rel


# -- bytecode -------------------------------------------------------------------------------------


@cache  # three tests compare the same files' code objects
def _compile(path: Path) -> CodeType | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return compile(_source(path), str(path), "exec", dont_inherit=True, optimize=0)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _code_objects(code: CodeType) -> list[CodeType]:
    out = [code]
    for const in code.co_consts:
        if isinstance(const, CodeType):
            out.extend(_code_objects(const))
    return out


def _check_bytecode(step: int) -> None:
    rows = layer_rows("bytecode", step)
    units, instructions = by_path(rows["bytecode_code_units"]), by_path(rows["bytecode_instructions"])
    checked = 0
    for path in stdlib_files(step):
        rel = path.relative_to(STDLIB).as_posix()
        module = _compile(path)
        if module is None:
            assert rel not in units, f"{rel}: compile refuses it, the layer did not"
            continue
        want = collections.Counter(
            (c.co_qualname, c.co_firstlineno, len(list(dis.get_instructions(c))))
            for c in _code_objects(module)
        )
        got = collections.Counter((u["qualname"], u["firstlineno"], u["instructions"]) for u in units[rel])
        assert got == want, rel
        assert len(instructions[rel]) == sum(n for (_, _, n), k in want.items() for _ in range(k)), rel
        checked += 1
    assert checked > len(stdlib_files(step)) * 0.9


def test_instruction_counts_agree_with_dis_sample() -> None:
    _check_bytecode(SAMPLE)


@pytest.mark.slow
def test_instruction_counts_agree_with_dis_everywhere() -> None:
    _check_bytecode(1)


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the fast decoder runs on CPython 3.11 only")
@pytest.mark.parametrize("step", [SAMPLE, pytest.param(1, marks=pytest.mark.slow)])
def test_fast_decoder_gives_what_dis_gives(step: int) -> None:
    """Instruction by instruction, the layer's rows are ``dis.Bytecode``'s (constants aside: the
    layer shows them without memory addresses and with frozensets sorted)."""
    rows = by_path(layer_rows("bytecode", step)["bytecode_instructions"])
    for path in stdlib_files(step):
        rel = path.relative_to(STDLIB).as_posix()
        module = _compile(path)
        if module is None:
            continue
        want = []
        for code in _code_objects(module):
            for ins in dis.Bytecode(code):
                argrepr = None if ins.opcode in dis.hasconst else ins.argrepr
                want.append((ins.offset, ins.opname, ins.arg, argrepr, ins.is_jump_target, *ins.positions))
        got = [
            (
                r["offset"],
                r["opname"],
                r["arg"],
                None if r["opname"] in ("LOAD_CONST", "KW_NAMES") else r["argrepr"],
                r["is_jump_target"],
                r["line"],
                r["end_line"],
                r["col"],
                r["end_col"],
            )
            for r in rows[rel]
        ]
        if not all(line.isascii() for line in _source(path).decode(_encoding(path)).splitlines()):
            got = [g[:7] for g in got]  # the layer's columns count characters, dis counts bytes
            want = [w[:7] for w in want]
        assert got == want, rel


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the column decoder runs on CPython 3.11 only")
@pytest.mark.parametrize("step", [SAMPLE, pytest.param(1, marks=pytest.mark.slow)])
def test_column_decoder_gives_the_reference_decoders_rows(step: int) -> None:
    """The vectorised decoder (a batch of files at once, in passes of several sizes) gives exactly
    the rows of the one-instruction-at-a-time decoder, columns in characters included."""
    import pyarrow as pa

    from codequarry.extractors.layers import bytecode_columns
    from codequarry.extractors.layers.bytecode import code_units
    from codequarry.extractors.layers.bytecode_decode import decode
    from codequarry.extractors.layers.positions import char_columns
    from codequarry.source import SourceFile

    reference: tuple[list[Any], ...] = tuple([] for _ in range(10))
    files: list[bytecode_columns.FileCode] = []
    counts: list[int] = []
    for path in stdlib_files(step):
        data = _source(path)
        src = SourceFile(repo="r", path=str(path), data=data, sha256="-", size=len(data), language="python")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                module = src.bytecode
        except Exception:  # noqa: BLE001 - a file the compiler refuses has no rows in either decoder
            continue
        convert = char_columns(src)
        codes = [code for _uid, _parent, code in code_units(module)]
        counts += [decode(code, reference, uid, convert) for uid, code in enumerate(codes)]
        files.append((codes, convert, src.lines if convert is not None else None))
    assert any(convert is not None for _codes, convert, _lines in files), "no file that is not ASCII"
    want = bytecode_columns.list_arrays(reference)
    assert counts == [bytecode_columns.instruction_count(c) for codes, _c, _l in files for c in codes]
    for size in (1, 7, len(files)):
        parts = [bytecode_columns.batch_arrays(files[i : i + size]) for i in range(0, len(files), size)]
        got = [pa.concat_arrays(column) for column in zip(*parts, strict=True)]
        for name, a, b in zip(INSTRUCTION_COLUMNS, want, got, strict=True):
            assert a.equals(b), (size, name)
        # the extractor's way: every pass decoded into one set of whole-length arrays
        joined = bytecode_columns.joined_arrays(
            [files[i : i + size] for i in range(0, len(files), size)], sum(counts)
        )
        for name, a, b in zip(INSTRUCTION_COLUMNS, want, joined, strict=True):
            assert a.equals(b), (size, name, "joined")


# -- AST ------------------------------------------------------------------------------------------


def _check_ast(step: int) -> None:
    rows = by_path(layer_rows("ast", step)["ast_nodes"])
    edges = collections.Counter(r["path"] for r in layer_rows("ast", step)["ast_edges"])
    checked = 0
    for path in stdlib_files(step):
        rel = path.relative_to(STDLIB).as_posix()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = ast.parse(_source(path))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            assert rel not in rows
            continue
        want = collections.Counter(type(n).__name__ for n in ast.walk(tree))
        got = collections.Counter(r["node_type"] for r in rows[rel])
        assert got == want, rel
        assert edges[rel] == sum(want.values()) - 1, rel
        checked += 1
    assert checked > len(stdlib_files(step)) * 0.9


def test_node_counts_agree_with_ast_walk_sample() -> None:
    _check_ast(SAMPLE)


@pytest.mark.slow
def test_node_counts_agree_with_ast_walk_everywhere() -> None:
    _check_ast(1)


# -- LibCST and the parse manifest ----------------------------------------------------------------

CST_SAMPLE = 97  # LibCST's metadata costs about ten parses: a smaller sample


@pytest.mark.slow  # about 50 s on a shared 2-core machine
@pytest.mark.skipif(not HAS_LIBCST, reason="libcst is not installed")
def test_cst_scopes_and_imports_agree_with_ast() -> None:
    rows = layer_rows("cst", CST_SAMPLE)
    scopes, names = by_path(rows["cst_scopes"]), by_path(rows["cst_qualified_names"])
    checked = 0
    for path in stdlib_files(CST_SAMPLE):
        rel = path.relative_to(STDLIB).as_posix()
        if rel not in scopes:
            continue
        tree = ast.parse(_source(path))
        kinds = collections.Counter(type(n).__name__ for n in ast.walk(tree))
        got = collections.Counter(r["scope_type"] for r in scopes[rel])
        assert got["GlobalScope"] == 1
        assert got["ClassScope"] == kinds["ClassDef"], rel
        assert got["FunctionScope"] == kinds["FunctionDef"] + kinds["AsyncFunctionDef"] + kinds["Lambda"], rel
        comprehensions = kinds["ListComp"] + kinds["SetComp"] + kinds["DictComp"] + kinds["GeneratorExp"]
        assert got["ComprehensionScope"] == comprehensions, rel
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = "." * node.level + (node.module or "")
                imported.update(f"{base}.{a.name}" if node.module else f"{base}{a.name}" for a in node.names)
        for row in names.get(rel, []):
            if row["source"] == "import":
                q = row["qualified_name"]
                assert any(q == m or q.startswith(m + ".") for m in imported), (rel, row)
        checked += 1
    assert checked >= 10


@pytest.mark.skipif(not HAS_LIBCST, reason="libcst is not installed")
def test_parse_manifest_agrees_with_libcst() -> None:
    import libcst

    rows = {r["path"]: r for r in layer_rows("parse_manifest", CST_SAMPLE)["parse_manifest"]}
    checked = 0
    for path in stdlib_files(CST_SAMPLE):
        rel = path.relative_to(STDLIB).as_posix()
        try:
            module = libcst.parse_module(_source(path))
        except Exception:
            continue
        row = rows[rel]
        assert row["encoding"].replace("-sig", "") == module.encoding.lower().replace("_", "-"), rel
        assert row["newline"] in (module.default_newline, None), rel
        assert (row["indentation"] or module.default_indent) == module.default_indent, rel
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize("step", [SAMPLE, pytest.param(1, marks=pytest.mark.slow)])
def test_manifest_indentation_is_the_first_indent_token(step: int) -> None:
    """The manifest reads the indentation off the parse tree; the tokenizer's first INDENT agrees."""
    import io
    import tokenize

    rows = {r["path"]: r for r in layer_rows("parse_manifest", step)["parse_manifest"]}
    checked = 0
    for path in stdlib_files(step):
        rel = path.relative_to(STDLIB).as_posix()
        if rel not in rows:
            continue
        text = _source(path).decode(_encoding(path))
        want = None
        try:
            for tok in tokenize.generate_tokens(io.StringIO(text).readline):
                if tok.type == tokenize.INDENT:
                    want = tok.string
                    break
        except (tokenize.TokenError, SyntaxError):
            continue
        assert rows[rel]["indentation"] == want, rel
        checked += 1
    assert checked > len(stdlib_files(step)) * 0.9
