"""A source root swapped for a symlink between the scan and the reads is not followed (trust sweep 7).

The guarded opener (``corpus_io.open_fd``) checked each file against the root's real path taken *at
the open*: a folder inside the root replaced by a symlink out was refused, but the root itself,
replaced by a symlink to another folder holding the same names, moved the "root" with it, and the
other folder's files were extracted as the repository's. The root a run reads is the real path its
scan found; a root that resolves elsewhere now costs each file an ``unreadable`` errors row.
Checked against the old code: the other folder's ``SECRET`` assignments were stored, with no error.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from codequarry import open_store, sql
from tests.hostile.conftest import paused_quarry


def test_a_root_swapped_for_a_symlink_after_the_scan_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "pkg").mkdir(parents=True)
    (outside / "a.py").write_text("SECRET_A = 1\n")
    (outside / "pkg" / "m.py").write_text("SECRET_M = 1\n")
    root = tmp_path / "root"
    (root / "pkg").mkdir(parents=True)
    (root / "a.py").write_text("a = 1\n")
    (root / "pkg" / "m.py").write_text("m = 1\n")
    store, flag = tmp_path / "store", tmp_path / "flag"
    proc = paused_quarry("execute", flag, "extract", root, "--store", store, "-w", "1", "-q")
    shutil.rmtree(root)
    os.symlink(outside, root)
    flag.unlink()
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and "Traceback" not in err, err
    st = open_store(store)
    targets = sql(st, "SELECT target FROM assignments").column("target").to_pylist()
    assert not [t for t in targets if t.startswith("SECRET")]
    errors = sql(st, "SELECT path, kind, message FROM errors ORDER BY path").to_pylist()
    assert errors == [
        {
            "path": p,
            "kind": "unreadable",
            "message": "the source root was replaced by a symlink since the scan",
        }
        for p in ("a.py", "pkg/m.py")
    ]
