"""For operations that build many rows from whole tables at once."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while an operation builds its (acyclic) rows.

    After an extraction the process holds many objects, and the collections that thousands of new
    dicts trigger scan them all: pausing halves these operations' time. The previous state comes
    back afterwards (another operation running in parallel may have paused it too).
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
