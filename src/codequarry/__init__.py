"""codequarry: source trees as SQL-queryable datasets.

The public API: declare datasets and extractors (see :mod:`codequarry.api` for the how-to), run an
extraction, and query a store::

    from codequarry import make_plan, extract, open_store, sql
    summary = extract(make_plan(["path/to/repo"]))
    print(sql(open_store(summary.store), "SELECT count(*) FROM functions"))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from codequarry.version import __version__

if TYPE_CHECKING:
    from codequarry.api import FileExtractor, Operation, Outputs, file_extractor, operation
    from codequarry.plan import ExtractPlan, Plan, make_plan
    from codequarry.query import open_store, read_only_sql, session, sql, table
    from codequarry.run import RunSummary, extract
    from codequarry.schema import DatasetSpec, dataset
    from codequarry.source import SourceFile

#: every public name, by the module that defines it: imported on first use, so that a command that
#: needs none of them (the no-op fast path of `quarry extract`) does not pay for pyarrow and the rest
_LAZY = {
    "FileExtractor": "codequarry.api",
    "Operation": "codequarry.api",
    "Outputs": "codequarry.api",
    "file_extractor": "codequarry.api",
    "operation": "codequarry.api",
    "ExtractPlan": "codequarry.plan",
    "Plan": "codequarry.plan",
    "make_plan": "codequarry.plan",
    "RunSummary": "codequarry.run",
    "extract": "codequarry.run",
    "DatasetSpec": "codequarry.schema",
    "dataset": "codequarry.schema",
    "SourceFile": "codequarry.source",
    "open_store": "codequarry.query",  # DataFusion loads only when a query is made
    "session": "codequarry.query",
    "sql": "codequarry.query",
    "table": "codequarry.query",
    "read_only_sql": "codequarry.query",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'codequarry' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "__version__",
    "dataset",
    "DatasetSpec",
    "file_extractor",
    "operation",
    "FileExtractor",
    "Operation",
    "Outputs",
    "SourceFile",
    "ExtractPlan",
    "Plan",
    "make_plan",
    "extract",
    "RunSummary",
    "open_store",
    "session",
    "sql",
    "table",
    "read_only_sql",
]
