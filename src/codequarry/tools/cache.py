"""The result cache: one small JSON file per task result, named by the task's cache key.

It lives in the store (``.quarry/cache/``) and holds every finished result except ``killed``: the
task's outcome (its ``tool_runs`` row) and a preset's result rows. A re-run skips a task whose key
is cached; ``--rerun-failed`` runs again the cached results that are not ok. Entries are written
only after the run's snapshot is published, so the cache never names a result the store lacks.
``prune`` drops the least recently used entries (a hit refreshes an entry's mtime) until the cache
fits a size.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from codequarry.store import metafile

#: the bound of one entry (a task's outcome and a preset's rows): a larger file is not an entry
ENTRY_BYTES = 1 << 30


def _loads(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:  # NaN, an escaped lone surrogate: what json writes and reads
        return json.loads(data)


class ResultCache:
    def __init__(self, store_path: str | Path) -> None:
        self.root = Path(store_path) / "cache"
        self._root = os.fspath(self.root)
        self._dirs: set[str] = set()  # the entry folders known to exist (a mkdir per put was ~15%)

    def _file(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def _name(self, key: str) -> str:
        """The entry's file name as a str (a Path per lookup was most of a cold lookup's cost)."""
        return f"{self._root}/{key[:2]}/{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        try:  # as the store's own files: a FIFO held the run, a link to /dev/zero filled memory
            entry = _loads(metafile.read_bytes(self._name(key), ENTRY_BYTES))
        except (OSError, ValueError):
            return None
        if (
            not isinstance(entry, dict)
            or entry.get("key") != key
            or not isinstance(entry.get("outcome"), dict)
        ):
            return None  # not an entry this cache wrote (a damaged one): the task runs again
        if not isinstance(entry.get("preset_rows", []), list):
            return None
        return entry

    def touch(self, key: str) -> None:
        with contextlib.suppress(OSError):
            os.utime(self._name(key))

    def put(self, key: str, entry: dict[str, Any]) -> None:
        """Write the entry (a temporary file renamed over the entry: a reader sees all or nothing)."""
        folder = f"{self._root}/{key[:2]}"
        if folder not in self._dirs:
            os.makedirs(folder, exist_ok=True)
            self._dirs.add(folder)
        path = f"{folder}/{key}.json"
        tmp = f"{folder}/.{key}.json.{os.getpid()}.tmp"
        data = json.dumps({**entry, "key": key, "cached_at": time.time()}, default=str).encode()
        try:
            fh = open(tmp, "wb")  # noqa: SIM115 - closed below
        except FileNotFoundError:  # the folder went (a `quarry cache clear` meanwhile)
            os.makedirs(folder, exist_ok=True)
            fh = open(tmp, "wb")  # noqa: SIM115
        with fh:
            fh.write(data)
        os.replace(tmp, path)

    def _entries(self) -> list[tuple[Path, os.stat_result]]:
        if not self.root.is_dir():
            return []
        out = []
        for sub in self.root.iterdir():
            if sub.is_dir():
                for f in sub.glob("*.json"):
                    try:
                        out.append((f, f.stat()))
                    except OSError:
                        continue
        return out

    def info(self) -> dict[str, Any]:
        entries = self._entries()
        tools: Counter[str] = Counter()
        statuses: Counter[str] = Counter()
        for f, _st in entries:
            try:
                data = _loads(metafile.read_bytes(f, ENTRY_BYTES))
            except (OSError, ValueError):
                data = None
            outcome = data.get("outcome") if isinstance(data, dict) else None
            if not isinstance(outcome, dict):  # not an entry this cache wrote
                statuses["unreadable"] += 1
                continue
            tools[str(data.get("tool"))] += 1
            statuses[str(outcome.get("status"))] += 1
        return {
            "path": str(self.root),
            "entries": len(entries),
            "bytes": sum(st.st_size for _, st in entries),
            "tools": dict(sorted(tools.items())),
            "statuses": dict(sorted(statuses.items())),
            "oldest": min((st.st_mtime for _, st in entries), default=None),
            "newest": max((st.st_mtime for _, st in entries), default=None),
        }

    def clear(self) -> int:
        """Remove every entry, under the store's writer lock (a run may be reading the cache)."""
        from codequarry.store.lock import WriterLock

        with WriterLock(self.root.parent):
            n = len(self._entries())
            shutil.rmtree(self.root, ignore_errors=True)
        return n

    def prune(self, max_size: int) -> tuple[int, int]:
        """Remove least recently used entries until the cache holds at most ``max_size`` bytes
        (under the store's writer lock)."""
        from codequarry.store.lock import WriterLock

        with WriterLock(self.root.parent):
            return self._prune(max_size)

    def _prune(self, max_size: int) -> tuple[int, int]:
        entries = sorted(self._entries(), key=lambda e: e[1].st_mtime)
        total = sum(st.st_size for _, st in entries)
        removed = freed = 0
        for f, st in entries:
            if total <= max_size:
                break
            try:
                f.unlink()
            except OSError:
                continue
            total -= st.st_size
            removed += 1
            freed += st.st_size
        for sub in self.root.glob("*") if self.root.is_dir() else []:
            if sub.is_dir() and not any(sub.iterdir()):
                sub.rmdir()
        return removed, freed
