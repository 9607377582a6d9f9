"""codequarry: source trees as SQL-queryable datasets.

The public API: declare datasets and extractors (see :mod:`codequarry.api` for the how-to), run an
extraction, and query a store::

    from codequarry import make_plan, extract, open_store, sql
    summary = extract(make_plan(["path/to/repo"]))
    print(sql(open_store(summary.store), "SELECT count(*) FROM functions"))
"""

from __future__ import annotations

from codequarry.api import FileExtractor, Operation, Outputs, file_extractor, operation
from codequarry.plan import ExtractPlan, Plan, make_plan
from codequarry.run import RunSummary, extract
from codequarry.schema import DatasetSpec, dataset
from codequarry.source import SourceFile
from codequarry.version import __version__

_LAZY = {
    "open_store",
    "session",
    "sql",
    "table",
    "read_only_sql",
}  # DataFusion loads only when a query is made


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from codequarry import query

        return getattr(query, name)
    raise AttributeError(f"module 'codequarry' has no attribute {name!r}")


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
