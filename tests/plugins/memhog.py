"""A plugin whose extractor grows its memory in touched 20 MB steps on ``grow.py`` (up to 3 GB)."""

from __future__ import annotations

from codequarry import dataset, file_extractor


@dataset("memhog_sizes")
class MemhogSize:
    size: int


@file_extractor("memhog.steps", version=1, needs=["text"], outputs=[MemhogSize])
def steps(src, out) -> None:  # type: ignore[no-untyped-def]
    if src.path.rsplit("/", 1)[-1] == "grow.py":
        held = []
        for _ in range(150):
            chunk = bytearray(20 << 20)
            chunk[::4096] = b"x" * len(chunk[::4096])  # touched: resident, not only reserved
            held.append(chunk)
    out.memhog_sizes.add(size=len(src.text))
