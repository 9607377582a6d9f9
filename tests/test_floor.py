"""The floor of a run: a no-change `quarry extract` imports neither pandas nor pyarrow.dataset
(0.3 s and more of a run that otherwise costs ~0.1 s), and pandas still works when asked for."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from codequarry import extract, make_plan
from tests import paths

FIXTURE = paths.FIXTURES / "routes" / "flask_app"
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

NO_CHANGE = """
import sys
sys.argv = ["quarry", "extract", sys.argv[1], "--store", sys.argv[2], "-q", "-w", "1"]
from codequarry.cli import main
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
print(sorted(m for m in ("pandas", "pyarrow.dataset", "datafusion") if m in sys.modules))
"""


def test_a_no_change_run_imports_neither_pandas_nor_pyarrow_dataset(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(FIXTURE, src)
    store = tmp_path / "store"
    extract(make_plan([src], store=store, workers=1))
    done = subprocess.run(
        [sys.executable, "-c", NO_CHANGE, str(src), str(store)], capture_output=True, text=True, env=ENV
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_pandas_still_works_after_the_probe_is_skipped() -> None:
    code = """
import sys
from codequarry.pandas_probe import skip_pandas_probe
skip_pandas_probe()
import pyarrow as pa
t = pa.table({"a": [1, 2]})
assert "pandas" not in sys.modules
df = t.to_pandas()
assert type(df).__name__ == "DataFrame" and pa.table(df).num_rows == 2
assert pa.array(df["a"]).to_pylist() == [1, 2]
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
