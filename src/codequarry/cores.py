"""How many cores this process may use: the default number of workers of a run.

A neutral module, so that the planner (which caps ``--workers``) and the engines (which start that
many workers) both read it without the planner importing an engine.
"""

from __future__ import annotations

import os


def default_workers() -> int:
    """The cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)
