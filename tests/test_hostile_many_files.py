"""An enormous number of tiny files in one folder: every one is listed, extracted and stored, and a
re-run after one edit changes one file."""

from __future__ import annotations

from pathlib import Path

import pytest

from codequarry import open_store
from codequarry import sql as run_sql
from tests.hostile.conftest import extract_json

N = 20_000


@pytest.mark.slow
def test_twenty_thousand_tiny_files_in_one_folder(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(N):
        (src / f"m{i}.py").write_text(f"X{i} = {i}\n")
    store = tmp_path / "store"
    first = extract_json(src, "--store", store, "-w", "2")
    assert first["files_scanned"] == N and first["files_parsed"] == N and first["errors"] == 0
    st = open_store(store)
    try:
        got = run_sql(st, "SELECT count(*) AS n, count(DISTINCT path) AS p FROM assignments").to_pylist()
    finally:
        st.close()
    assert got == [{"n": N, "p": N}]
    (src / "m7.py").write_text("X7 = 'changed'\n")
    again = extract_json(src, "--store", store, "-w", "2")
    assert again["changed"] == 1 and again["files_scanned"] == N
