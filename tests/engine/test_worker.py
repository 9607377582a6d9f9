"""The worker: read once, errors cost only what they must, schema violations become error rows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from codequarry.engine.worker import FileTask, WorkerConfig, process_chunk, read_ipc

CORE = (("codequarry.extractors.core", "files"),)
PLUGINS = (("tests.plugins.misbehaving", "names"), ("tests.plugins.misbehaving", "boom"))


def task(root: Path, rel: str, key: int = 0, language: str | None = "python") -> FileTask:
    p = root / rel
    size = p.stat().st_size if p.exists() else 0
    return FileTask(
        key=key,
        repo="r",
        root=str(root),
        path=rel,
        size=size,
        mtime_ns=0,
        language=language,
        module=rel.removesuffix(".py"),
    )


def run(
    root: Path, rels: list[str], refs: tuple[tuple[str, str], ...] = CORE + PLUGINS
) -> dict[str, list[dict]]:
    result = process_chunk(WorkerConfig(extractors=refs), [task(root, r, i) for i, r in enumerate(rels)])
    return {name: read_ipc(data).to_pylist() for name, data in result.tables.items()}


def test_file_deleted_between_scan_and_read_is_an_error_row(tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_text("x = 1\n")
    (tmp_path / "gone.py").write_text("y = 2\n")
    t = [task(tmp_path, "ok.py", 0), task(tmp_path, "gone.py", 1)]
    (tmp_path / "gone.py").unlink()
    result = process_chunk(WorkerConfig(extractors=CORE), t)
    errors = read_ipc(result.tables["errors"]).to_pylist()
    assert [(e["path"], e["kind"], e["sha256"]) for e in errors] == [("gone.py", "unreadable", None)]
    assert [f["path"] for f in read_ipc(result.tables["files"]).to_pylist()] == ["ok.py"]


def test_wrong_type_drops_that_files_rows_and_names_everything(tmp_path: Path) -> None:
    (tmp_path / "fine.py").write_text("a = b\n")
    (tmp_path / "wrong_type.py").write_text("c = d\n")
    tables = run(tmp_path, ["fine.py", "wrong_type.py"])
    assert {(r["path"], r["name"]) for r in tables["names"]} == {("fine.py", "a"), ("fine.py", "b")}
    (err,) = [e for e in tables["errors"] if e["kind"] == "schema"]
    assert err["path"] == "wrong_type.py" and err["extractor"] == "test.names"
    assert "line" in err["message"] and "int64" in err["message"] and "names" in err["message"]


def test_an_exception_costs_only_that_extractors_rows_for_that_file(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 'explode'\n")
    (tmp_path / "b.py").write_text("y = 2\n")
    tables = run(tmp_path, ["a.py", "b.py"])
    assert [r["path"] for r in tables["boom"]] == ["b.py"]  # a.py's rows before the raise are gone
    assert {r["path"] for r in tables["names"]} == {"a.py", "b.py"}  # the other extractor kept its rows
    (err,) = tables["errors"]
    assert err["extractor"] == "test.boom" and err["kind"] == "extractor"
    assert "RuntimeError: the plugin exploded" in err["message"] and err["line"] == 1
    assert err["source_line"] == "x = 'explode'"


def test_a_syntax_error_is_reported_once_per_file(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("x = (\n")
    tables = run(tmp_path, ["bad.py"])
    errors = tables["errors"]
    assert len(errors) == 1 and errors[0]["kind"] == "syntax" and errors[0]["extractor"] == "parse"
    assert tables["files"][0]["path"] == "bad.py"


def test_files_rows_cover_every_language(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("# a\nb\n")
    (tmp_path / "img.bin").write_bytes(b"\x89PNG\x00\x01\x02" * 100)
    result = process_chunk(
        WorkerConfig(extractors=CORE),
        [task(tmp_path, "notes.md", 0, "markdown"), task(tmp_path, "img.bin", 1, None)],
    )
    rows = {r["path"]: r for r in read_ipc(result.tables["files"]).to_pylist()}
    assert rows["notes.md"]["lines"] == 2 and rows["notes.md"]["language"] == "markdown"
    assert rows["img.bin"]["lines"] is None
    assert "errors" not in result.tables  # a binary file that is not Python is not an error


def test_a_chunks_rows_are_freed_without_the_cyclic_collector() -> None:
    """Row buffers and the chunk's run hold millions of values: nothing may keep them in a reference
    cycle, or each chunk's values wait for (and cost) a full collection of the cyclic GC."""
    import gc
    import weakref

    from codequarry.datasets import Error
    from codequarry.engine.worker import _Run, load_extractors
    from codequarry.schema import RowBuffer

    class Value:
        pass

    was = gc.isenabled()
    gc.disable()
    try:
        buf = RowBuffer(Error)
        value = Value()
        alive = weakref.ref(value)
        buf.add(extractor="x", kind="k", message=value)
        del value, buf
        assert alive() is None, "a row buffer is kept alive by a reference cycle"

        run = _Run(load_extractors(CORE + PLUGINS))
        value = Value()
        alive = weakref.ref(value)
        for buffer in run.buffers.values():
            buffer.add(**dict.fromkeys(buffer.spec.field_names, value))
        run.error("x", "k", "message")
        del value, run, buffer
        assert alive() is None, "a chunk's run is kept alive by a reference cycle"
    finally:
        if was:
            gc.enable()


def test_parts_written_in_a_thread_equal_parts_written_inline(tmp_path: Path, monkeypatch) -> None:
    """A chunk's Parquet parts are written by a thread while the next buffers are built: the same
    parts, in the same order (buffers, then errors), with the same rows as when written inline."""
    import pyarrow.parquet as pq

    from codequarry.engine import worker

    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text("import os\n\ndef f(x):\n    return os.path.join(x, 'y')\n")
    (src / "bad.py").write_text("def broken(:\n")
    (src / "b.py").write_text("class C:\n    def m(self):\n        print(self)\n")
    refs = (
        ("codequarry.extractors.core", "files"),
        ("codequarry.extractors.python.core.calls", "calls"),
        ("codequarry.extractors.python.core.defs", "functions"),
    )
    got = {}
    for threaded in (True, False):
        monkeypatch.setattr(worker, "PARTS_IN_THREAD", threaded)
        out = tmp_path / f"tables-{threaded}"
        config = WorkerConfig(extractors=refs, tables_dir=str(out), run_id=f"r{threaded}")
        tasks = [task(src, rel, i) for i, rel in enumerate(["a.py", "bad.py", "b.py"])]
        result = process_chunk(config, tasks)
        got[threaded] = [
            (p.dataset, p.rows, p.stats, pq.read_table(out / p.dataset / p.file).to_pylist())
            for p in result.parts
        ]
    assert [g[0] for g in got[True]] == ["files", "calls", "functions", "errors"]
    assert got[True] == got[False]


def test_reading_ahead_gives_the_rows_of_reading_inline(tmp_path: Path, monkeypatch) -> None:
    """The next file of a chunk is read in a thread while the current one is extracted: the rows
    (hashes, sizes, line counts, unreadable files' error rows) are those of reading each inline."""
    from codequarry.engine import worker

    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text("x = 1\n")
    (src / "b.py").write_text("def f():\n    return 2\n")
    (src / "c.txt").write_bytes(b"plain\ntext")
    (src / "d.py").write_text("print('d')\n")
    rels = ["a.py", "b.py", "gone.py", "c.txt", "d.py"]
    tasks = [task(src, rel, i, None if rel.endswith(".txt") else "python") for i, rel in enumerate(rels)]
    got = {}
    for ahead in (True, False):
        monkeypatch.setattr(worker, "READ_AHEAD", ahead)
        result = process_chunk(WorkerConfig(extractors=CORE), tasks)
        got[ahead] = {name: read_ipc(data).to_pylist() for name, data in result.tables.items()}
    assert [r["path"] for r in got[True]["files"]] == ["a.py", "b.py", "c.txt", "d.py"]
    assert [e["path"] for e in got[True]["errors"]] == ["gone.py"]
    assert got[True] == got[False]


def test_no_helper_threads_under_an_address_space_cap(tmp_path: Path) -> None:
    """Under --max-memory-per-worker the worker caps its address space: a thread's stack and malloc
    arena would count against the files' allowance, so parts are written and files read inline."""
    import subprocess
    import sys
    import textwrap

    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        (src / f"m{i}.py").write_text(f"def f{i}():\n    return {i}\n")
    script = textwrap.dedent(
        f"""
        import resource, psutil
        from codequarry.engine import worker
        from codequarry.engine.worker import FileTask, WorkerConfig, process_chunk

        def refuse(*a, **k):
            raise AssertionError("a helper thread was started under an address-space cap")

        worker.ThreadPoolExecutor = refuse
        vms = psutil.Process().memory_info().vms
        resource.setrlimit(resource.RLIMIT_AS, (vms + (300 << 20), resource.RLIM_INFINITY))
        tasks = [FileTask(key=i, repo="r", root={str(src)!r}, path=f"m{{i}}.py", size=30, mtime_ns=0,
                          language="python") for i in range(3)]
        config = WorkerConfig(extractors=(("codequarry.extractors.core", "files"),),
                              tables_dir={str(tmp_path / "tables")!r})
        result = process_chunk(config, tasks)
        print(sum(p.rows for p in result.parts))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["3"]


def test_helper_threads_run_under_a_roomy_address_space_cap_not_a_tight_one() -> None:
    # the run's default memory cap, where no cgroup holds a worker, is an address-space limit of
    # gigabytes: the read-ahead and part-writing threads stay on; a cap of a few hundred MB turns them off
    probe = (
        "import resource, psutil\n"
        "from codequarry.engine.worker import _threads_allowed\n"
        "base = psutil.Process().memory_info().vms\n"
        "print(_threads_allowed())\n"
        "hard = resource.getrlimit(resource.RLIMIT_AS)[1]\n"
        "resource.setrlimit(resource.RLIMIT_AS, (base + (3 << 30), hard))\n"
        "print(_threads_allowed())\n"
        "resource.setrlimit(resource.RLIMIT_AS, (base + (200 << 20), hard))\n"
        "print(_threads_allowed())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.split() == ["True", "True", "False"]
