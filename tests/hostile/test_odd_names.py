"""Names that are not UTF-8 and strings that are not valid Unicode: every file is processed, its path is
stored escaped (and leads back to the file), and nothing one file holds can stop the run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codequarry import open_store, sql
from codequarry.corpus_io import escape_name, name_bytes, os_path, unescape_name
from codequarry.engine.worker import FileTask, WorkerConfig, process_chunk, read_ipc
from codequarry.testing import extract_rows

from .conftest import extract_json, quarry

ODD = {
    b"caf\xe9.py": b"def latin1():\n    return 1\n",
    b"d\xffir/inner.py": b"def inner():\n    return 2\n",
    b"back\\slash.py": b"def back():\n    return 3\n",
    b"caf\xc3\xa9.py": b"def utf8():\n    return 4\n",  # valid UTF-8: stored as is
    b"\xe9\\xe9.py": b"def both():\n    return 5\n",  # a byte and the text of its escape: must not collide
}


def _tree(root: Path) -> Path:
    src = root / "src"
    for rel, data in ODD.items():
        full = os.path.join(os.fsencode(src), rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as fh:
            fh.write(data)
    return src


@pytest.mark.parametrize("workers", [1, 2])
def test_non_utf8_names_are_processed_and_stored_escaped(tmp_path: Path, workers: int) -> None:
    src = _tree(tmp_path)
    store = tmp_path / "store"
    first = extract_json(src, "--store", store, "--workers", workers)
    assert first["files_scanned"] == len(ODD) and first["errors"] == 0
    rows = sql(open_store(store), "SELECT path, name FROM functions ORDER BY name").to_pylist()
    got = {r["name"]: r["path"] for r in rows}
    assert got == {
        "latin1": "caf\\xe9.py",
        "inner": "d\\xffir/inner.py",
        "back": "back\\\\slash.py",
        "utf8": "café.py",
        "both": "\\xe9\\\\xe9.py",
    }
    for path in got.values():  # every stored path leads back to its file's bytes
        assert os.path.join(os.fsencode(src), name_bytes(path)) in {
            os.path.join(os.fsencode(src), k) for k in ODD
        }
        assert os.path.isfile(os_path(str(src), path))
    again = extract_json(src, "--store", store, "--workers", workers)
    assert again["changed"] == 0 and again["unchanged"] == len(ODD)  # incremental runs agree on the names


@given(st.binary(min_size=1, max_size=40).filter(lambda b: b"/" not in b and b"\0" not in b))
def test_escaping_is_lossless_and_valid_utf8(raw: bytes) -> None:
    name = os.fsdecode(raw)
    stored = escape_name(name)
    stored.encode("utf-8")  # storable in an Arrow string column
    assert unescape_name(stored) == name
    assert name_bytes(stored) == raw


def test_lone_surrogates_in_strings_are_stored_escaped_and_errors_stay_valid(tmp_path: Path) -> None:
    (tmp_path / "sur.py").write_text(
        'def g():\n    "\\ud800 lone"\n    return "\\udcff"\n\nclass C:\n    """\\udfff"""\n\nR = "raise \\ud801"\n'
    )
    (tmp_path / "ok.py").write_text("def fine():\n    return 'ok'\n")
    tables = extract_rows(
        tmp_path,
        select=["python.core.functions", "test.hostile.strings", "test.hostile.echo"],
        plugins=["tests.hostile.plugins"],
    )
    assert {(r["path"], r["value"]) for r in tables["hostile_strings"]} >= {
        ("sur.py", "\\ud800 lone"),
        ("sur.py", "\\udcff"),
        ("sur.py", "raise \\ud801"),
        ("ok.py", "ok"),
    }
    assert {(r["name"], r["docstring"]) for r in tables["functions"]} == {
        ("g", "\\ud800 lone"),
        ("fine", None),
    }
    (err,) = tables["errors"]  # the exception quoting the corpus is a valid errors row, not a lost one
    assert err["extractor"] == "test.hostile.echo" and "raise \\ud801" in err["message"]


def test_a_file_that_breaks_the_worker_itself_is_one_error_row(tmp_path: Path) -> None:
    """A task no scan would make (a NUL in the name) raises outside any extractor: it costs that file."""
    (tmp_path / "ok.py").write_text("def fine():\n    return 1\n")
    refs = (("codequarry.extractors.core", "files"), ("codequarry.extractors.python.core.defs", "functions"))
    tasks = [
        FileTask(
            key=0, repo="r", root=str(tmp_path), path="bad\0name.py", size=1, mtime_ns=0, language="python"
        ),
        FileTask(key=1, repo="r", root=str(tmp_path), path="ok.py", size=1, mtime_ns=0, language="python"),
    ]
    result = process_chunk(WorkerConfig(extractors=refs), tasks)
    tables = {name: read_ipc(data).to_pylist() for name, data in result.tables.items()}
    assert [r["name"] for r in tables["functions"]] == ["fine"]
    (err,) = tables["errors"]
    assert err["kind"] == "internal" and "null" in err["message"]


def test_a_file_whose_rows_kill_the_worker_costs_that_file_only(tmp_path: Path) -> None:
    """The worker dies after the files were processed, while building the chunk's rows: each file of
    the chunk runs again alone, and only the poisoned one becomes an error row."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(6):
        (src / f"m{i}.py").write_text(f"def f{i}():\n    return {i}\n")
    (src / "poison_x.py").write_text("def p():\n    return 0\n")
    summary = extract_json(
        src, "--store", tmp_path / "store", "--workers", 2, "--plugin", "tests.hostile.plugins"
    )
    st = open_store(tmp_path / "store")
    errors = sql(st, "SELECT path, kind, message FROM errors").to_pylist()
    assert [(e["path"], e["kind"]) for e in errors] == [("poison_x.py", "crash")]
    assert "while writing its rows" in errors[0]["message"]
    assert sql(st, "SELECT count(*) FROM hostile_lists").column(0)[0].as_py() == 6
    assert summary["files_scanned"] == 7
    assert set(sql(st, "SELECT path FROM files").column(0).to_pylist()) == {f"m{i}.py" for i in range(6)} | {
        "poison_x.py"
    }


def test_a_source_folder_named_in_latin1_works_and_its_default_store_is_refused_clearly(
    tmp_path: Path,
) -> None:
    root = os.path.join(os.fsencode(tmp_path), b"r\xffoot")
    os.makedirs(os.path.join(root, b"pkg"))
    with open(os.path.join(root, b"pkg", b"a.py"), "w") as fh:
        fh.write("def f():\n    return 1\n")
    summary = extract_json(os.fsdecode(root), "--store", tmp_path / "store")
    assert summary["files_scanned"] == 1
    assert sql(open_store(tmp_path / "store"), "SELECT repo FROM files").column(0).to_pylist() == [
        "r\\xffoot"
    ]
    done = quarry("extract", os.fsdecode(root), check=False)  # the default store, under the source
    assert done.returncode == 2 and "not valid UTF-8" in done.stderr and "Traceback" not in done.stderr
