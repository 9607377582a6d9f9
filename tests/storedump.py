"""One dump of a store's published tables, shared by the tests that compare stores.

A module of its own (not a test module): importing it never re-executes a module of ``@given``
tests, which hypothesis refuses inside a running ``@given`` (test_exact's keyed world imports
test_incops while its test runs)."""

from __future__ import annotations

import json
from pathlib import Path

from codequarry import open_store
from codequarry.query import table


def dump(store: Path, repo: str | None = None) -> dict[str, list[str]]:
    """Every non-empty table of the published snapshot as sorted JSON rows (an empty table and an
    absent one are the same thing to a query over rows); only ``repo``'s rows of the tables that have
    a repo column when given."""
    st_ = open_store(store)
    snap = st_.snapshot()
    assert snap is not None
    out = {}
    for name in sorted(snap.tables):
        rows = table(st_, name).to_pylist()
        if repo is not None:
            rows = [r for r in rows if r.get("repo", repo) == repo]
        if rows:
            out[name] = sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)
    return out
