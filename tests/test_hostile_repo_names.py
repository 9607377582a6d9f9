"""Repo names from folder names are the repository's choice: `quarry repos` prints each on one line
whatever it holds (a newline in a folder name forged a line of its own), and `quarry repos --store S
remove NAME` uses the store it was given (the group's --store was ignored: "no store here")."""

from __future__ import annotations

from pathlib import Path

from tests.hostile.conftest import quarry


def test_repo_names_with_control_characters_stay_one_line(tmp_path: Path) -> None:
    store = tmp_path / "store"
    names = ["plain", "two\nlines\t9 files\t9 rows\tgit:forged\tetc", "esc\x1b[31mred", "-rf"]
    for name in names:
        root = tmp_path / name
        root.mkdir()
        (root / "a.py").write_text("A = 1\n")
        quarry("extract", root, "--store", store, "-w", "1", "-q")
    listed = quarry("repos", "--store", store).stdout.splitlines()
    assert len(listed) == len(names), listed
    assert not any("\x1b" in line for line in listed)
    assert any(line.startswith("two\\nlines\\t9 files") for line in listed), listed
    assert quarry("repos", "--store", store, "--json").stdout.count('"repo"') == len(names)


def test_the_group_store_option_reaches_remove(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "a.py").write_text("A = 1\n")
    store = tmp_path / "elsewhere"
    quarry("extract", root, "--store", store, "-w", "1", "-q")
    done = quarry("repos", "--store", store, "remove", "--", "proj", check=False)
    assert done.returncode == 0, done.stderr
    assert "removed proj" in done.stdout
    assert "proj" not in quarry("repos", "--store", store).stdout
