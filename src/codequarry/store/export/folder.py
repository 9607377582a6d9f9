"""Parquet and JSON lines: an export folder, its marker file, and the refusal to touch anything in
it that an export did not write."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from codequarry.errors import UsageError
from codequarry.store.export.common import (
    MARKER,
    OLD,
    TMP,
    Format,
    Progress,
    Source,
    TableExport,
    abandoned,
    fsync_dir,
    remove,
)
from codequarry.store.export.jsonl import jsonl_table
from codequarry.store.export.parquet import PART, parquet_table


def _write_marker(out: Path, meta: dict[str, Any]) -> None:
    tmp = out / f"{TMP}{os.getpid()}-{MARKER}"
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, out / MARKER)


def _previous_tables(out: Path) -> dict[str, dict[str, Any]]:
    """The tables an earlier export recorded in ``out``'s marker (name -> what it wrote)."""
    try:
        loaded = json.loads((out / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    tables = loaded.get("tables") if isinstance(loaded, dict) else None
    if not isinstance(tables, dict):
        return {}
    return {k: (v if isinstance(v, dict) else {}) for k, v in tables.items() if _safe_name(k)}


def _safe_name(name: object) -> bool:
    return (
        isinstance(name, str)
        and bool(name)
        and "/" not in name
        and "\\" not in name
        and not name.startswith(".")
        and name not in (MARKER,)
    )


def _forms(out: Path, name: str) -> tuple[Path, Path]:
    """Where a table may be in an export folder: its Parquet folder and its JSON-lines file."""
    return out / name, out / f"{name}.jsonl"


def _foreign(out: Path, name: str, previous: dict[str, dict[str, Any]]) -> Path | None:
    """The first file at a table's places in ``out`` that no codequarry export wrote, or None.

    Ours: the places of a table the marker names, holding only what an export writes there
    (``part-NNNNN.parquet`` files in the table's folder, or the ``.jsonl`` file).
    """
    folder, lines = _forms(out, name)
    for place in (folder, lines):
        if not (place.exists() or place.is_symlink()):
            continue
        if name not in previous or place.is_symlink():
            return place
        if place == folder:
            if not place.is_dir():
                return place
            for child in place.iterdir():
                if not PART.fullmatch(child.name) or child.is_symlink() or not child.is_file():
                    return child
        elif not place.is_file():
            return place
    return None


def export_folder(
    sources: list[Source],
    out: Path,
    format: Format,
    shards: int,
    meta: dict[str, Any],
    progress: Progress | None,
) -> dict[str, TableExport]:
    out.mkdir(parents=True, exist_ok=True)
    previous = _previous_tables(out) if (out / MARKER).exists() else {}
    for src in sources:  # every refusal before the first byte is written
        foreign = _foreign(out, src.name, previous)
        if foreign is not None:
            raise UsageError(
                f"'{foreign}' was not written by a codequarry export (or was changed since); "
                f"exporting table '{src.name}' would replace it: move it away, or export elsewhere"
            )
    for leftover in [*out.glob(f"{TMP}*"), *out.glob(f"{OLD}*")]:
        if abandoned(leftover.name.removeprefix(TMP).removeprefix(OLD)):
            remove(leftover)
    # the marker names every table before it is written, so that a killed export leaves a folder whose
    # every table the next export knows as its own; it is updated after each table
    tables = {**previous, **{s.name: {**previous.get(s.name, {}), "pending": True} for s in sources}}
    _write_marker(out, {**meta, "complete": False, "tables": tables})
    done: dict[str, TableExport] = {}
    for src in sources:
        folder, lines = _forms(out, src.name)
        if format == "parquet":
            done[src.name] = parquet_table(src, out, shards, progress)
            remove(lines)  # the same table as JSON lines, from an earlier export: replaced
        else:
            done[src.name] = jsonl_table(src, out, progress)
            remove(folder)
        tables[src.name] = {
            "format": format,
            "rows": done[src.name].rows,
            "version": src.version,
            "snapshot": meta["snapshot"],
            "files": [str(f.relative_to(out)) for f in done[src.name].files],
            **({"key": src.key, "shards": shards} if format == "parquet" else {}),
        }
        _write_marker(out, {**meta, "complete": False, "tables": tables})
    _write_marker(out, {**meta, "complete": True, "tables": tables})
    fsync_dir(out)
    return done
