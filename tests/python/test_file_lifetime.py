"""Per-file facts shared between extractors are worked out once and die with their file.

A file's tree is freed as soon as its last extractor is done (freed later, after the next file's
parse, the teardown costs more: docs/performance.md), so nothing cached across extractors may hold
the file; and what several extractors ask for (the import bindings) is computed once per file.
"""

from __future__ import annotations

import ast
import weakref
from pathlib import Path

from codequarry.engine.worker import FileTask, WorkerConfig, process_chunk, read_ipc
from codequarry.extractors.python.security import callsites
from codequarry.extractors.python.security.sqlstrings import sql_sites
from codequarry.python.imports import import_bindings
from codequarry.source import SourceFile

CODE = b"""\
import os
import sqlite3
from subprocess import run as r

TOKEN = os.environ["TOKEN"]


def query(conn: sqlite3.Connection, name: str) -> object:
    conn.execute("SELECT * FROM users WHERE name = '%s'" % name)
    r("ls " + name, shell=True)
    return os.getenv("HOME")
"""

SECURITY = (
    ("codequarry.extractors.python.core.calls", "calls"),
    ("codequarry.extractors.python.security.envreads", "env_reads"),
    ("codequarry.extractors.python.security.findings", "security_findings"),
    ("codequarry.extractors.python.security.sqlstrings", "sql_strings"),
)


def _source(code: bytes = CODE) -> SourceFile:
    return SourceFile(
        repo="r", path="app.py", data=code, sha256=None, size=len(code), language="python", module="app"
    )


def test_the_shared_security_facts_do_not_keep_their_file_alive() -> None:
    src = _source()
    facts = callsites.file_facts(src)
    assert callsites.file_facts(src) is facts  # shared by the extractors of one file
    calls = src.nodes(ast.Call)
    resolved = {facts.callee(c) for c in calls}  # builds the facts' resolver
    assert "subprocess.run" in resolved and "os.getenv" in resolved
    assert sql_sites(src)  # kept in the facts' memo
    file_ref, node_ref = weakref.ref(src), weakref.ref(src.tree.body[0])
    del src, facts, calls
    assert file_ref() is None, "something the facts keep still holds the file"
    assert node_ref() is None, "the file's tree outlived it"
    assert callsites._current == []


def test_no_file_outlives_the_chunk_that_extracted_it(tmp_path: Path) -> None:
    for name in ("a.py", "b.py"):
        (tmp_path / name).write_bytes(CODE)
    tasks = [
        FileTask(
            key=i,
            repo="r",
            root=str(tmp_path),
            path=name,
            size=len(CODE),
            mtime_ns=0,
            language="python",
            module=name.removesuffix(".py"),
        )
        for i, name in enumerate(("a.py", "b.py"))
    ]
    result = process_chunk(WorkerConfig(extractors=SECURITY), tasks)
    assert callsites._current == []  # the last file's facts went with it
    rows = {name: read_ipc(data).num_rows for name, data in result.tables.items()}
    assert rows["env_reads"] == 4 and rows["sql_strings"] == 2 and rows["security_findings"] >= 2


def test_import_bindings_are_computed_once_and_each_caller_gets_its_own_list() -> None:
    src = _source()
    first = import_bindings(src)
    assert [b.bound_name for b in first] == ["os", "sqlite3", "r"]
    first.clear()  # a caller changing its list changes nobody else's
    second = import_bindings(src)
    assert [b.target for b in second] == ["os", "sqlite3", "subprocess.run"]
    third = import_bindings(src)
    assert third is not second
    assert all(a is b for a, b in zip(second, third, strict=True))  # the same bindings, not recomputed
