"""examples/plugin as a real installed package: found through its entry point, its extractor and its
operation produce the right rows. Installed with pip (no network) into a temporary folder put on the
path, so site-packages stays untouched."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from importlib.metadata import distribution
from pathlib import Path
from typing import Any

import pytest

from codequarry import extract, make_plan, open_store
from codequarry.operations import OperationContext, conform
from codequarry.registry import load_catalog
from codequarry.testing import extract_rows
from tests import paths

PLUGIN = paths.ROOT / "examples" / "plugin"

TREE = {
    "settings.py": """
        import os

        PORT = int(os.getenv("PORT", "8080"))
        DEBUG = os.environ.get("DEBUG") == "1"
    """,
    "app/main.py": """
        import os
        from os import environ, getenv

        def connect():
            url = os.environ["DATABASE_URL"]
            key = environ["API_KEY"]
            return url, key, getenv("PORT"), os.environ.get("API_KEY", default=None)

        def not_reads(name):
            os.environ["WRITTEN"] = "x"  # a store, not a read
            return os.getenv(name), os.environ[name], {"PORT": 1}["PORT"]
    """,
}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plugin installed by pip into a temporary --target folder, from a copy (the build leaves
    build/ and *.egg-info behind in the source folder)."""
    base = tmp_path_factory.mktemp("plugin")
    src = base / "src"
    shutil.copytree(PLUGIN, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = base / "site"
    pip = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-build-isolation",
        "--no-deps",
        "--no-index",
    ]
    proc = subprocess.run([*pip, "--target", str(target), str(src)], capture_output=True, text=True)
    assert proc.returncode == 0, (
        f"pip could not install {PLUGIN} (it needs setuptools and wheel in this environment: "
        f"pip install -e '.[test]'):\n{proc.stdout}\n{proc.stderr}"
    )
    return target


@pytest.fixture
def on_path(installed: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The installed plugin importable in this process, as if in site-packages; forgotten afterwards."""
    monkeypatch.syspath_prepend(str(installed))
    yield installed
    for name in [m for m in sys.modules if m == "acme_extractors" or m.startswith("acme_extractors.")]:
        del sys.modules[name]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    for rel, text in TREE.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip())
    return root


def test_pip_installs_the_distribution_with_its_entry_point(on_path: Path) -> None:
    dist = distribution("acme-extractors")
    assert [(ep.group, ep.name, ep.value) for ep in dist.entry_points] == [
        ("codequarry.extractors", "acme", "acme_extractors")
    ]
    assert Path(str(dist.locate_file("acme_extractors/__init__.py"))).is_relative_to(on_path)


def test_the_catalog_finds_both_declarations_through_the_entry_point(on_path: Path) -> None:
    catalog = load_catalog()
    assert catalog.sources["acme.env.reads"] == "entry point acme (acme_extractors)"
    assert catalog.sources["acme.env.unused"] == "entry point acme (acme_extractors)"
    reads = catalog.extractors["acme.env.reads"]
    assert (reads.module, reads.attribute, reads.output_names) == (
        "acme_extractors",
        "env_reads",
        ("acme_env_reads",),
    )
    assert catalog.operations["acme.env.unused"].inputs == ("acme_env_reads", "assignments")
    assert "acme.env.reads" not in load_catalog(entry_points_enabled=False).extractors


def _rows(tree: Path) -> list[dict[str, Any]]:
    got = extract_rows(tree, select=["acme.env.reads"])  # found through the entry point, as a user would
    assert not got["errors"], got["errors"]
    return got["acme_env_reads"]


def test_the_file_extractor_finds_every_literal_read(on_path: Path, tree: Path) -> None:
    got = [(r["path"], r["name"], r["via"], r["default"], r["line"], r["col"]) for r in _rows(tree)]
    assert sorted(got) == sorted(
        [
            ("settings.py", "PORT", "getenv", '"8080"', 3, 11),  # the default as written
            ("settings.py", "DEBUG", "get", None, 4, 8),
            ("app/main.py", "DATABASE_URL", "subscript", None, 5, 10),
            ("app/main.py", "API_KEY", "subscript", None, 6, 10),
            ("app/main.py", "PORT", "getenv", None, 7, 21),
            ("app/main.py", "API_KEY", "get", "None", 7, 37),
        ]
    )  # not: the store into os.environ, a name that is not a literal, a subscript of another dict


def test_the_operation_reports_reads_without_a_settings_constant(
    on_path: Path, tree: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    extract(make_plan([tree], store=store, workers=1, plugins=["acme_extractors"]))
    import acme_extractors  # type: ignore[import-not-found]

    op = acme_extractors.unused_env
    ctx = OperationContext.from_store(open_store(store), inputs=op.inputs)
    got = conform(op.func(ctx), acme_extractors.UnusedEnv, op.name).to_pylist()
    # PORT and DEBUG are settings constants of settings.py; the others are read ad hoc
    assert [(r["repo"], r["path"], r["name"], r["reads"], r["line"]) for r in got] == [
        ("tree", "app/main.py", "API_KEY", 2, 6),
        ("tree", "app/main.py", "DATABASE_URL", 1, 5),
    ]
    assert all(r["sha256"] and len(r["sha256"]) == 64 for r in got)


def test_quarry_runs_the_installed_plugin_end_to_end(installed: Path, tree: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(installed), os.environ.get("PYTHONPATH", "")])}
    store = tmp_path / "store"

    def quarry(*args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "codequarry", *args], capture_output=True, text=True, env=env
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    assert "entry point acme (acme_extractors)" in quarry("extractors")
    summary = json.loads(quarry("extract", str(tree), "--store", str(store), "--workers", "2", "--json"))
    assert summary["rows"]["acme_env_reads"] == 6  # process-pool workers import the plugin too
    out = quarry("sql", "--store", str(store), "-f", "json", "SELECT name FROM acme_unused_env ORDER BY name")
    assert [r["name"] for r in json.loads(out)] == ["API_KEY", "DATABASE_URL"]
