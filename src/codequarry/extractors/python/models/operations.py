"""The operation that turns per-file candidate classes into the ORM and validation tables.

One operation for both families, because both need the same cross-file view (every candidate class,
its bases canonicalized through re-exports and aliases, its members) and building it is most of the
work: ``orm_models``, ``orm_fields`` (:mod:`~codequarry.extractors.python.models.orm`) and
``validation_models``, ``validation_fields``, ``validation_validators``
(:mod:`~codequarry.extractors.python.models.validation`).

Incremental: the outputs are keyed by model (``fqn`` / ``model``). When files change, the run asks
:func:`~codequarry.extractors.python.models.affected.affected` which models the change can reach and
replaces only those models' rows; the graph itself is still read whole (a model may depend on any
file), the rows are built and compared for the reached models only.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from codequarry.api import operation
from codequarry.extractors.python.models.affected import affected
from codequarry.extractors.python.models.graph import GRAPH_INPUTS, ClassGraph
from codequarry.extractors.python.models.orm import OrmClasses, OrmField, OrmModel, orm_tables
from codequarry.extractors.python.models.validation import (
    ValidationClasses,
    ValidationField,
    ValidationModel,
    ValidationValidator,
    validation_tables,
)
from codequarry.python.bulk import gc_paused


@operation(
    "python.models.resolve",
    version=1,
    inputs=list(GRAPH_INPUTS),
    outputs=[OrmModel, OrmField, ValidationModel, ValidationField, ValidationValidator],
    partition={
        "orm_models": "fqn",
        "orm_fields": "model",
        "validation_models": "fqn",
        "validation_fields": "model",
        "validation_validators": "model",
    },
    affected=affected,
)
def resolve_models(ctx: Any) -> dict[str, pa.Table]:
    """ORM and validation models across files: model-ness, inherited fields, validators."""
    with gc_paused():
        graph = ClassGraph(ctx)
        orm = OrmClasses(graph)
        validation = ValidationClasses(graph)
        graph.load_members(orm.classes() | validation.classes())
        tables = {**orm_tables(orm), **validation_tables(validation)}
    if ctx.keys is not None:  # an incremental run: the reached models' rows only
        tables = {name: ctx.only_keys(data, name) for name, data in tables.items()}
        ctx.report(
            "models re-derived",
            f"{len(ctx.keys)} reached, {tables['orm_models'].num_rows} ORM, "
            f"{tables['validation_models'].num_rows} validation",
        )
        return tables
    ctx.report("orm models", tables["orm_models"].num_rows)
    ctx.report("validation models", tables["validation_models"].num_rows)
    return tables
