"""`quarry flows export OUT` never writes into a store.

Found by trust sweep 3 (left alone then), fixed by sweep 4: ``quarry flows export .quarry`` wrote 21
``.py`` files and flows.json into the store folder (and ``OUT`` inside ``tables/`` could have mixed
them with a table's parts). Now OUT is refused, like every other output, when it is a store folder or
inside one: one line, exit 2, nothing written.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.conftest import one_file_store, quarry


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return one_file_store(tmp_path_factory, "flows", "def f():\n    return 1\n", "--select", "python.core")


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("inside", [".", "tables", "tables/new/deeper", "flows"])
def test_a_folder_in_a_store_is_refused(store: Path, inside: str) -> None:
    before = _listing(store)
    done = quarry("flows", "export", store / inside, check=False)
    assert done.returncode == 2, (done.stdout, done.stderr)
    err = done.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert "inside the store" in err
    assert _listing(store) == before


def test_a_folder_beside_the_store_is_written(store: Path) -> None:
    out = store.parent.parent / "flows"
    quarry("flows", "export", out)
    assert (out / "flows.json").is_file()
    assert any(p.suffix == ".py" for p in out.iterdir())
    assert not list(store.glob("*.py"))
