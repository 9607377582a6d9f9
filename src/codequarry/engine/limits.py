"""What a run allows each file: its own module, so that a one-worker run, which forks no worker,
does not import the supervisor (and psutil, multiprocessing) to name its limits."""

from __future__ import annotations

from dataclasses import dataclass

from codequarry.source import MEMORY_MESSAGE as MEMORY_MESSAGE  # the engines' and the worker's


@dataclass(frozen=True)
class Limits:
    file_timeout: float | None = 60.0
    max_memory: int | None = None  # bytes of resident memory per worker
    crash_retries: int = 1  # times a file that killed its worker is tried again, alone
    #: ``max_memory`` is the run's default (plan.worker_memory), not one the user gave: the kernel
    #: holds it (a cgroup, else the address-space limit alone, never the parent's sampling, whose
    #: wake-ups every run would pay), and it is lifted while a worker runs a call for the parent
    memory_default: bool = False
