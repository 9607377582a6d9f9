"""Live progress of a running job, written to the store so that other processes can follow it.

A run (extract, tool run, watch batch) writes ``progress.json`` in its store a few times a second at
most, by an atomic rename; ``quarry serve`` and ``quarry status`` read it. The file names the writer's
pid, so a reader can tell a finished or killed run from a live one::

    {"run_id": "...", "kind": "extract", "pid": 4242, "started": 1.7e9, "updated": 1.7e9,
     "done": 120, "total": 1793, "bytes_done": ..., "bytes_total": ..., "state": "running"}
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

FILE = "progress.json"
MIN_INTERVAL = 0.25  # seconds between two writes


class ProgressFile:
    """The writer side: ``update`` is cheap to call per result; writes are throttled."""

    def __init__(self, store_path: str | Path, *, kind: str, run_id: str) -> None:
        self.path = Path(store_path) / FILE
        self.state: dict[str, Any] = {
            "run_id": run_id,
            "kind": kind,
            "pid": os.getpid(),
            "started": time.time(),
            "updated": time.time(),
            "done": 0,
            "total": 0,
            "bytes_done": 0,
            "bytes_total": 0,
            "state": "running",
            "stage": "scan",
        }
        self._last = 0.0
        self._write()

    def update(
        self,
        done: int,
        total: int,
        bytes_done: int = 0,
        bytes_total: int = 0,
        *,
        stage: str | None = None,
        force: bool = False,
    ) -> None:
        self.state.update(done=done, total=total, bytes_done=bytes_done, bytes_total=bytes_total)
        if stage is not None:
            self.state["stage"] = stage
        now = time.monotonic()
        if force or done >= total or now - self._last >= MIN_INTERVAL:  # the last step is always written
            self._write()

    def stage(self, name: str) -> None:
        self.state["stage"] = name
        self._write()

    def finish(self, state: str, **extra: Any) -> None:
        """Record the outcome ('published', 'up-to-date', 'failed', 'interrupted')."""
        self.state.update(state=state, stage="done", **extra)
        self._write()

    def _write(self) -> None:
        self._last = time.monotonic()
        self.state["updated"] = time.time()
        tmp = self.path.with_name(f".{FILE}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(self.state))
            os.replace(tmp, self.path)
        except OSError:
            pass  # progress is a courtesy: a full or read-only disk must not fail the run for it


def read_progress(store_path: str | Path) -> dict[str, Any] | None:
    """The last progress record of a store, with ``alive`` telling whether its writer still runs."""
    try:
        from codequarry.store.metafile import read_text

        data = json.loads(read_text(Path(store_path) / FILE))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    pid = data.get("pid")
    alive = False
    if data.get("state") == "running" and isinstance(pid, int):
        import psutil  # only readers ask: a run writing progress does not import it

        try:
            alive = psutil.Process(pid).create_time() <= float(data.get("started", 0)) + 1
        except (psutil.Error, ValueError, TypeError):
            alive = False
        if not alive:
            data["state"] = "died"
    data["alive"] = alive
    return data
