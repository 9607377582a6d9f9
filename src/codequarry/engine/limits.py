"""What a run allows each file: its own module, so that a one-worker run, which forks no worker,
does not import the supervisor (and psutil, multiprocessing) to name its limits."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    file_timeout: float | None = 60.0
    max_memory: int | None = None  # bytes of resident memory per worker
    crash_retries: int = 1  # times a file that killed its worker is tried again, alone
