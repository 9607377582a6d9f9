"""Test helpers for codequarry and for plugin authors: run real extractors on a small tree, compare
rows with golden files.

Three helpers, no mocks: every one runs the real scanner and the real extractors on real files.

- :func:`extract_rows` runs the selected file extractors over a folder (or a ``{path: source}``
  dict written to a temporary folder) in this process and returns their rows per dataset: the rows
  the workers of ``quarry extract`` produce for the same tree, without a store. Fast enough to call
  once per test.
- :func:`extract_store` runs a whole ``quarry extract`` (operations included) into a store under a
  folder you give (pytest's ``tmp_path``) and returns the opened store, for ``sql(store, ...)``.
- :func:`assert_golden` compares rows with a golden JSON file (one row per line, so a diff shows
  which rows changed) and rewrites the file instead when asked to: ``pytest --update-golden`` with
  this module loaded as a pytest plugin, or ``CODEQUARRY_UPDATE_GOLDEN=1``. Review the diff of a
  rewritten golden file before committing it: the file is the truth, not what the code printed.

A plugin's test, with ``pytest_plugins = ["codequarry.testing"]`` in its top-level ``conftest.py``::

    from codequarry.testing import assert_golden, extract_rows

    def test_env_reads(tmp_path):
        rows = extract_rows({"app.py": "import os\\nos.getenv('HOME')\\n"}, select=["acme.env"],
                            plugins=["acme_extractors"])
        assert [r["name"] for r in rows["acme_env_reads"]] == ["HOME"]
        assert not rows["errors"]

    def test_golden():
        assert_golden(extract_rows(FIXTURES / "app", select=["acme"]), FIXTURES / "app.expected.json",
                      datasets=["acme_env_reads"])

This module is the one place that knows how the engine runs a file extractor: the engine's entry
points may change between releases, these helpers keep their signatures.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codequarry.errors import UsageError

if TYPE_CHECKING:
    from codequarry.store import Store

Rows = list[dict[str, Any]]
Tables = dict[str, Rows]
#: provenance columns that differ between machines and runs: left out of golden files by default
PROVENANCE = ("repo", "sha256")
#: the position columns rows are sorted by (then by their whole content), when present
POSITION = ("path", "line", "col", "end_line", "end_col")
UPDATE_ENV = "CODEQUARRY_UPDATE_GOLDEN"
#: multiplies the examples of the property-based (hypothesis) tests: a nightly or pre-release run
#: sets it to 20 or 100 to search far more sequences than a CI run's few (see :func:`examples`)
EXAMPLES_ENV = "CODEQUARRY_TEST_EXAMPLES"
_update_option = False  # set by the pytest plugin hook below from --update-golden


# -- running extractors --------------------------------------------------------------------------


def extract_rows(
    tree: str | Path | Mapping[str, str | bytes],
    *,
    select: Iterable[str] = (),
    deselect: Iterable[str] = (),
    plugins: Iterable[str] = (),
    exclude: Iterable[str] = (),
    repo: str | None = None,
    paths: Iterable[str] | None = None,
    columns: Mapping[str, Sequence[str]] | None = None,
) -> Tables:
    """Rows per dataset of the selected file extractors over ``tree``, extracted in this process.

    ``tree`` is a folder, or a ``{relative path: source}`` mapping written to a temporary folder
    named ``repo`` (default ``"r"``). ``select``, ``deselect`` and ``plugins`` mean what the
    options of ``quarry extract`` mean (``core`` is always selected). The result holds every dataset
    the selected extractors declare plus ``errors``, each a list of rows (empty when none).
    ``paths`` (relative POSIX paths) extracts only those files; the whole tree is still scanned, so
    module names come from the package layout. ``columns`` (``{dataset: [column, ...]}``) keeps only
    those columns of those datasets' rows: a large tree's rows take far less memory and time.
    Operations need a store: use :func:`extract_store`."""
    only = None if paths is None else set(paths)
    with _materialized(tree, repo) as (root, name):
        return _run_in_process(
            root, name, list(select), list(deselect), list(plugins), list(exclude), only, columns or {}
        )


def extract_store(
    directory: str | Path,
    files: Mapping[str, str | bytes] | None = None,
    *,
    sources: Sequence[str | Path] = (),
    select: Iterable[str] = (),
    plugins: Iterable[str] = (),
    **options: Any,
) -> Store:
    """Run ``quarry extract`` into ``directory/store`` and return the opened store (for ``sql``).

    The sources are ``files`` written under ``directory/src`` (repo ``src``), and/or the folders of
    ``sources``. Further keyword ``options`` go to :func:`codequarry.make_plan` (``workers``,
    ``deselect``, ``exclude``, ...)."""
    from codequarry import extract, make_plan
    from codequarry.query import open_store

    directory = Path(directory)
    roots = [Path(s) for s in sources]
    if files is not None:
        roots.insert(0, write_tree(directory / "src", files))
    if not roots:
        raise UsageError("extract_store needs files or sources to extract")
    options.setdefault("workers", 1)
    plan = make_plan(roots, store=directory / "store", select=select, plugins=plugins, **options)
    extract(plan)
    return open_store(plan.store)


def write_tree(root: str | Path, files: Mapping[str, str | bytes]) -> Path:
    """Write ``{relative POSIX path: text or bytes}`` under ``root`` (created); return ``root``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        path = root / rel
        if not path.resolve().is_relative_to(root.resolve()):
            raise UsageError(f"'{rel}' is outside the tree")
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


@contextlib.contextmanager
def _materialized(
    tree: str | Path | Mapping[str, str | bytes], repo: str | None
) -> Iterator[tuple[Path, str]]:
    """The folder to scan and its repo name; a mapping is written to a folder removed afterwards."""
    if not isinstance(tree, Mapping):
        root = Path(tree)
        yield root, repo or root.resolve().name
        return
    with tempfile.TemporaryDirectory(prefix="cq-testing-") as tmp:
        name = repo or "r"
        yield write_tree(Path(tmp) / name, tree), name


def _run_in_process(
    root: Path,
    repo: str,
    select: list[str],
    deselect: list[str],
    plugins: list[str],
    exclude: list[str],
    only: set[str] | None,
    columns: Mapping[str, Sequence[str]],
) -> Tables:
    """What one worker of ``quarry extract`` does for the whole tree, as one chunk.

    The coupling to the engine lives here and only here: plan -> scan -> file tasks -> the
    worker's ``process_chunk``."""
    from codequarry.engine.worker import WorkerConfig, process_chunk, read_ipc
    from codequarry.plan import make_plan
    from codequarry.registry import load_catalog
    from codequarry.repos import scan_sources
    from codequarry.worklist import manifest_tasks

    catalog = load_catalog(plugins)
    plan = make_plan(
        [root],
        workers=1,
        select=select,
        deselect=deselect,
        plugins=plugins,
        exclude=exclude,
        catalog=catalog,
        repo=repo if repo != root.resolve().name else None,
    )
    extractors = list(plan.extractors)
    _sources, _registry, manifest = scan_sources(
        None, None, plan.sources, exclude=plan.request.exclude, never=[]
    )
    config = WorkerConfig(
        extractors=tuple((ex.module, ex.attribute) for ex in extractors),
        max_file_size=plan.request.max_file_size,
        file_timeout=None,
    )
    tasks = manifest_tasks(manifest)
    if only is not None:
        tasks = [t for t in tasks if t.path in only]
        missing = only - {t.path for t in tasks}
        if missing:
            raise UsageError(f"not files of the tree {root}: {', '.join(sorted(missing))}")
    result = process_chunk(config, tasks)
    tables: Tables = {spec.name: [] for ex in extractors for spec in ex.outputs}
    tables["errors"] = []  # the table codequarry itself writes: one row per failure
    for name, data in result.tables.items():
        table = read_ipc(data)
        tables[name] = (table.select(list(columns[name])) if name in columns else table).to_pylist()
    return tables


# -- golden files ----------------------------------------------------------------------------------


def examples(n: int) -> int:
    """The ``max_examples`` of a property-based test: ``n`` times ``CODEQUARRY_TEST_EXAMPLES``
    (default 1). A CI run draws few examples and starts without hypothesis's database, so a rare
    sequence can pass many runs; a scheduled run with ``CODEQUARRY_TEST_EXAMPLES=50`` finds it sooner
    (add what it finds as an ``@example``). A value that is not a positive integer is an error."""
    raw = os.environ.get(EXAMPLES_ENV, "1").strip() or "1"
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{EXAMPLES_ENV} must be a positive integer, not {raw!r}")
    return n * int(raw)


def updating_goldens() -> bool:
    """True when golden files are to be rewritten: ``pytest --update-golden`` (with this module as a
    pytest plugin) or the environment variable ``CODEQUARRY_UPDATE_GOLDEN=1``."""
    return _update_option or os.environ.get(UPDATE_ENV, "") not in ("", "0")


def golden_rows(rows: Rows, *, drop: Iterable[str] = PROVENANCE, sort: bool = True) -> Rows:
    """``rows`` without the ``drop`` columns, sorted by position then content when ``sort``."""
    dropped = set(drop)
    out = [{k: v for k, v in row.items() if k not in dropped} for row in rows]
    return sorted(out, key=_position_key) if sort else out


def _position_key(row: dict[str, Any]) -> tuple[Any, ...]:
    lead = (row.get(k) if row.get(k) is not None else -1 for k in POSITION)
    return (*lead, json.dumps(row, sort_keys=True))


def golden_text(data: Tables | Rows) -> str:
    """The golden file's text: a JSON object of datasets or a JSON list, one row per line (columns
    in the order the rows hold them), so that a diff shows exactly which rows changed."""
    if isinstance(data, list):
        body = ",\n".join("  " + json.dumps(r, ensure_ascii=False) for r in data)
        return "[\n" + body + "\n]\n" if body else "[]\n"
    chunks = []
    for name, found in data.items():
        body = ",\n".join("    " + json.dumps(r, ensure_ascii=False) for r in found)
        chunks.append(f'  "{name}": [\n{body}\n  ]' if body else f'  "{name}": []')
    return "{\n" + ",\n".join(chunks) + "\n}\n"


def assert_golden(
    data: Tables | Rows,
    path: str | Path,
    *,
    datasets: Iterable[str] | None = None,
    drop: Iterable[str] = PROVENANCE,
    sort: bool = True,
    update: bool | None = None,
) -> None:
    """Compare ``data`` (rows per dataset, or one list of rows) with the golden JSON file ``path``.

    Rows lose the ``drop`` columns and, when ``sort``, are ordered by position then content; with
    ``datasets`` only those datasets are compared (in that order, a missing one as empty). When
    ``update`` (default: :func:`updating_goldens`) the file is rewritten first. Raises
    AssertionError naming the dataset and showing the differing lines."""
    path = Path(path)
    drop = tuple(drop)
    if isinstance(data, list):
        got: Tables | Rows = golden_rows(data, drop=drop, sort=sort)
    else:
        names = list(data) if datasets is None else list(datasets)
        got = {n: golden_rows(data.get(n, []), drop=drop, sort=sort) for n in names}
    if updating_goldens() if update is None else update:
        path.write_text(golden_text(got), encoding="utf-8")
    if not path.exists():
        raise AssertionError(f"{path} is missing; create it with pytest --update-golden and review it")
    expected = json.loads(path.read_text(encoding="utf-8"))
    if got == expected:
        return
    if isinstance(got, list) or not isinstance(expected, dict):
        raise AssertionError(f"rows differ from {path.name}:\n{_diff(expected, got)}")
    for name in sorted(set(got) | set(expected)):
        if got.get(name) != expected.get(name):
            raise AssertionError(
                f"dataset {name} differs from {path.name} (rerun with --update-golden to rewrite, then "
                f"review the diff):\n{_diff(expected.get(name, []), got.get(name, []))}"
            )


def _diff(expected: Any, got: Any, limit: int = 40) -> str:
    lines = difflib.unified_diff(
        golden_text(expected).splitlines(), golden_text(got).splitlines(), "expected", "got", lineterm="", n=1
    )
    out = list(lines)
    return "\n".join(out[:limit] + ([f"... {len(out) - limit} more lines"] if len(out) > limit else []))


# -- pytest plugin (pytest_plugins = ["codequarry.testing"]) ------------------------------------------


def pytest_addoption(parser: Any) -> None:
    """Add ``--update-golden``: rewrite golden files from the current output."""
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite golden expected files from the current output (review the diff before committing)",
    )


def pytest_configure(config: Any) -> None:
    global _update_option
    _update_option = bool(config.getoption("--update-golden", default=False))
