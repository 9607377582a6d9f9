"""The figures a worker sends with each chunk for the run report: per-extractor time and rows, errors by
kind and extractor, its pid and peak memory."""

from __future__ import annotations

import os
from pathlib import Path

from codequarry.engine.worker import FileTask, WorkerConfig, process_chunk
from codequarry.registry import load_catalog


def test_a_chunk_reports_where_its_time_went_and_what_each_extractor_wrote(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(
        "import os\n\ndef f(x):\n    return os.path.join(x, 'y')\n\nclass C:\n    pass\n"
    )
    (tmp_path / "b.py").write_text("def broken(:\n")
    catalog = load_catalog(())
    names = ["core.files", "python.core.functions", "python.core.classes", "python.core.calls"]
    config = WorkerConfig(
        extractors=tuple((catalog.extractors[n].module, catalog.extractors[n].attribute) for n in names)
    )
    tasks = [
        FileTask(
            key=i,
            repo="r",
            root=str(tmp_path),
            path=p,
            size=(tmp_path / p).stat().st_size,
            mtime_ns=0,
            language="python",
            module=p[:-3],
        )
        for i, p in enumerate(["a.py", "b.py"])
    ]
    result = process_chunk(config, tasks)
    assert result.ex_rows == {
        "core.files": 2,
        "python.core.functions": 1,
        "python.core.classes": 1,
        "python.core.calls": 1,
    }
    assert result.seconds["parse"] > 0 and set(result.seconds) == {*names, "parse"}
    assert result.errors == {"syntax\tparse": 1}
    assert result.pid == os.getpid() and result.peak_rss > 1 << 20
    assert result.busy >= sum(result.seconds.values())  # the parts are inside the whole
