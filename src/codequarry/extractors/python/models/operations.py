"""The operation that turns per-file candidate classes into the ORM and validation tables.

Each repo is resolved on its own: a repo's rows depend on its files only (two copies of a tree under
two repo names get the same rows each), and only one repo's rows are Python objects at a time.

One operation for both families, because both need the same cross-file view (every candidate class,
its bases canonicalized through re-exports and aliases, its members) and building it is most of the
work: ``orm_models``, ``orm_fields`` (:mod:`~codequarry.extractors.python.models.orm`) and
``validation_models``, ``validation_fields``, ``validation_validators``
(:mod:`~codequarry.extractors.python.models.validation`).

Incremental: the outputs are keyed by model (``fqn`` / ``model``). When files change, the run asks
:func:`~codequarry.extractors.python.models.affected.affected` which models the change can reach and
replaces only those models' rows; the graph of each repo holding a reached model is still built
whole (a model may depend on any file), the rows are built for the reached models only (with their
parents' rows, and the members of them and their ancestors). ``affected`` keeps each repo's base
last parts between the runs of a long-lived process (``ctx.kept``, :mod:`.lasts`).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from codequarry.api import operation
from codequarry.extractors.python.models.affected import affected
from codequarry.extractors.python.models.graph import GRAPH_INPUTS, MAX_ANCESTORS, ClassGraph
from codequarry.extractors.python.models.inputs import repo_inputs
from codequarry.extractors.python.models.orm import OrmClasses, OrmField, OrmModel, orm_tables
from codequarry.extractors.python.models.validation import (
    ValidationClasses,
    ValidationField,
    ValidationModel,
    ValidationValidator,
    validation_tables,
)
from codequarry.python.bulk import gc_paused

_OUTPUTS: list[Any] = [OrmModel, OrmField, ValidationModel, ValidationField, ValidationValidator]


@operation(
    "python.models.resolve",
    version=2,
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
    twins=True,  # each repo resolved on its own
)
def resolve_models(ctx: Any) -> dict[str, pa.Table]:
    """ORM and validation models across the files of each repo: model-ness, inherited fields,
    validators. One repo at a time (see :mod:`~codequarry.extractors.python.models.inputs`)."""
    pa.default_memory_pool().release_unused()  # what earlier stages freed, before this one's peak
    pieces: dict[str, list[pa.Table]] = {spec.name: [] for spec in _OUTPUTS}
    for inputs in repo_inputs(ctx):
        with gc_paused():
            graph = ClassGraph(inputs)
            orm = OrmClasses(graph)
            validation = ValidationClasses(graph)
            only = None if ctx.keys is None else {k[0] for k in ctx.keys} & set(graph.classes)
            if only is None:
                graph.load_members(orm.classes() | validation.classes())
            else:  # an incremental run: the reached models' rows only, from their and their ancestors' members
                graph.load_members({a for fqn in only for a in (fqn, *graph.lineage(fqn))})
            tables = {**orm_tables(orm, only), **validation_tables(validation, only)}
            _report_cut(ctx, graph, orm, validation)
            del graph, orm, validation
        for name, data in tables.items():
            if data.num_rows:
                pieces[name].append(data)
    tables = {
        spec.name: pa.concat_tables(pieces[spec.name]) if pieces[spec.name] else spec.schema.empty_table()
        for spec in _OUTPUTS
    }
    if ctx.keys is not None:
        ctx.report(
            "models re-derived",
            f"{len(ctx.keys)} reached, {tables['orm_models'].num_rows} ORM, "
            f"{tables['validation_models'].num_rows} validation",
        )
        return tables
    ctx.report("orm models", tables["orm_models"].num_rows)
    ctx.report("validation models", tables["validation_models"].num_rows)
    return tables


def _report_cut(ctx: Any, graph: ClassGraph, orm: OrmClasses, validation: ValidationClasses) -> None:
    """One ``errors`` row for each model of the repo with more than MAX_ANCESTORS ancestors (every
    model of the repo, whatever the run re-derives: the run replaces the repo's errors rows)."""
    scope = getattr(ctx, "error_repos", None)
    if scope is not None and graph.repo not in scope:
        return  # a repo whose errors rows this run does not replace (they stand as they are)
    models = {f for f, role in orm.role.items() if role not in ("", "base")} | set(validation.framework)
    for fqn in graph.cut_classes(models):
        row = graph.classes[fqn]
        ctx.error(
            row["repo"],
            row["path"],
            row["sha256"],
            "limit",
            f"class {fqn} inherits from more than {MAX_ANCESTORS} classes: walks over its inheritance "
            f"stop at the nearest {MAX_ANCESTORS}, so its rows lack what the others give (fields, "
            "validators, table)",
            line=row["line"],
            column=row["col"],
        )
