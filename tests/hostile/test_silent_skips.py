"""Nothing listed vanishes without a reason: a file in a folder without the x bit, a folder without the
r bit, a FIFO or a socket named *.py, symlink loops, an unreadable file. Each is a skipped-with-reason
count (and path) in the run summary and in `quarry status`, or an errors row.

Root ignores permission bits, so when the tests run as root quarry runs with CAP_DAC_OVERRIDE and
CAP_DAC_READ_SEARCH dropped (setpriv), which makes the bits apply to it as to any user.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, SRC, git, make_socket, quarry

DROP = [
    "setpriv",
    "--inh-caps=-dac_override,-dac_read_search",
    "--bounding-set=-dac_override,-dac_read_search",
]


def _prefix() -> list[str]:
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: permission bits cannot be made to apply")
    return DROP


def _tree(src: Path) -> None:
    (src / "noexec").mkdir(parents=True)
    (src / "noexec" / "hidden.py").write_text("H = 1\n")
    (src / "noread").mkdir()
    (src / "noread" / "unlisted.py").write_text("U = 1\n")
    (src / "ok.py").write_text("def ok():\n    return 1\n")
    (src / "locked.py").write_text("L = 1\n")
    os.mkfifo(src / "fifo.py")
    make_socket(src / "sock.py")
    (src / "loop.py").symlink_to("loop.py")
    (src / "sub").mkdir()
    (src / "sub" / "s.py").write_text("S = 1\n")
    (src / "sub" / "back").symlink_to("..")  # a folder loop
    (src / "locked.py").chmod(0)
    (src / "noexec").chmod(0o644)
    (src / "noread").chmod(0o311)


def _restore(src: Path) -> None:
    (src / "noexec").chmod(0o755)
    (src / "noread").chmod(0o755)


@pytest.mark.parametrize("listing", ["walk", "git"])
def test_every_skipped_file_has_a_reason_in_summary_and_status(
    tmp_path: Path, listing: str, git_env: dict[str, str]
) -> None:
    prefix = _prefix()
    src = tmp_path / "src"
    src.mkdir()
    if listing == "git":
        git(src, git_env, "init", "-q")
    _tree(src)
    store = tmp_path / "store"
    env = {**git_env, "PYTHONPATH": SRC + os.pathsep + str(ROOT)}
    try:
        done = subprocess.run(
            [
                *prefix,
                sys.executable,
                "-m",
                "codequarry",
                "extract",
                str(src),
                "--store",
                str(store),
                "--json",
                "-q",
                "--workers",
                "2",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        text = subprocess.run(
            [*prefix, sys.executable, "-m", "codequarry", "status", "--store", str(store)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
    finally:
        _restore(src)
    assert summary["listing"] == {"src": listing}
    reasons = {path: reason for _repo, path, reason in summary["skipped_files"]}
    assert reasons["noexec/hidden.py"].startswith("unreadable: Permission denied")
    assert reasons["noread"].startswith("unreadable_dir: Permission denied")
    assert reasons["fifo.py"] == "special_file: a FIFO"
    assert reasons["sock.py"] == "special_file: a socket"
    assert reasons["loop.py"] == "symlink_loop"
    assert reasons["sub/back"] in (
        {"walk": "symlink_loop", "git": "symlinked_folder"}[listing],
        "symlinked_folder: git lists the link, not the folder's files",
    )
    for reason in ("unreadable", "unreadable_dir", "special_file", "symlink_loop"):
        assert summary["skipped"].get(reason), (reason, summary["skipped"])
    assert "skipped: " in text.stdout and "special_file" in text.stdout and "fifo.py" in text.stdout
    errors = quarry("sql", "--store", store, "SELECT path, kind, message FROM errors", env=env).stdout
    assert "locked.py" in errors and "Permission denied" in errors  # read refused: an errors row
