"""The store's ``config.toml`` and the services' logs are the store's files, read and written its way
(trust sweep 9).

Before: ``config.toml`` was read whole with a plain ``open`` that followed links, so a link to a file
outside the store was read as the store's config (its ``[services.*]`` started there) and a 4 GB file
ended ``quarry status`` in a MemoryError traceback; ``quarry up`` appended to ``services/ui.log``
through a link, writing outside the store. Now each is one line and exit code 2, nothing is read or
written through a link, and nothing is started.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hostile.conftest import ROOT, SRC, core_store, quarry


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return core_store(tmp_path)


def _capped(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """`quarry ARGS` with 2 GB of address space: reading a huge file whole is a MemoryError."""
    code = (
        "import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)); "
        "sys.argv = ['quarry', *sys.argv[1:]]; runpy.run_module('codequarry', run_name='__main__')"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": SRC + os.pathsep + str(ROOT)},
    )


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


@pytest.mark.parametrize("kind", ["outside", "huge", "fifo"])
def test_a_config_that_is_not_the_stores_own_small_file_is_one_line(
    store: Path, tmp_path: Path, kind: str
) -> None:
    config = store / "config.toml"
    if kind == "outside":
        (tmp_path / "theirs.toml").write_text("[services.ray]\nport = 6390\n")
        config.symlink_to(tmp_path / "theirs.toml")
    elif kind == "huge":
        with open(config, "wb") as fh:
            fh.write(b"# ")
            fh.truncate(4 << 30)  # sparse: no disk used
    else:
        os.mkfifo(config)
    for command in (("status",), ("up", "--port", _free_port())):
        done = _capped(*command, "--store", store)
        assert done.returncode == 2, (command, done.returncode, done.stdout, done.stderr[-2000:])
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "config.toml" in lines[0] and "Traceback" not in done.stderr, lines
    assert not (store / "services" / "ui.json").exists()  # nothing was started


@pytest.mark.parametrize("kind", ["link", "fifo"])
def test_up_never_writes_its_log_through_a_link_or_into_a_fifo(
    store: Path, tmp_path: Path, kind: str
) -> None:
    (store / "services").mkdir()
    log = store / "services" / "ui.log"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    if kind == "link":
        log.symlink_to(victim)
    else:
        os.mkfifo(log)
    try:
        done = quarry("up", "--port", _free_port(), "--store", store, check=False, timeout=120)
    finally:
        quarry("down", "--store", store, check=False, timeout=120)  # before the fix: the UI ran
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert len(done.stderr.strip().splitlines()) == 1 and "ui.log" in done.stderr, done.stderr
    assert victim.read_text() == "precious\n"
    assert not (store / "services" / "ui.json").exists()
