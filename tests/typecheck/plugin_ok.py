"""A plugin as its author writes it: mypy (strict, with codequarry.mypy_plugin) must find no error here.

Checked by tests/typecheck/test_declarations.py, and run there to show the types tell the truth.
"""

from __future__ import annotations

import ast

import pyarrow as pa

import codequarry
from codequarry import DatasetSpec, Outputs, SourceFile, dataset, file_extractor, operation
from codequarry.api import FileExtractor, Operation
from codequarry.schema import RowBuffer


@dataset("acme_env_reads")
class EnvRead:
    """One read of an environment variable."""

    name: str
    line: int
    default: str | None


@dataset("acme_env_counts", provenance=False)
class EnvCount:
    name: str
    n: int


@codequarry.dataset("acme_env_files")  # the decorator reached as an attribute is the same decorator
class EnvFile:
    variables: list[str]


@file_extractor("acme.env.reads", version=1, needs=["ast"], outputs=[EnvRead, EnvFile])
def env_reads(src: SourceFile, out: Outputs) -> None:
    """os.getenv("X") calls, with the variable's name."""
    for call in src.nodes(ast.Call):
        if src.dotted(call.func) == "os.getenv" and call.args:
            arg = call.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                out.acme_env_reads.add(name=arg.value, line=call.lineno, default=None)
    buf: RowBuffer = out["acme_env_reads"]
    if not buf.n:
        out.error("nothing", "no reads", line=1)


@operation("acme.env.counts", version=1, inputs=["acme_env_reads"], outputs=[EnvCount, "acme_other"])
def env_counts(ctx: object) -> None:
    """Counts per variable."""


def specs() -> list[DatasetSpec]:
    """A declared class is the DatasetSpec it becomes: its attributes have DatasetSpec's types."""
    name: str = EnvRead.name
    schema: pa.Schema = EnvRead.schema
    columns: tuple[str, ...] = EnvRead.field_names
    fields: tuple[pa.Field, ...] = EnvCount.fields
    assert name and schema and columns and fields and EnvCount.provenance is False
    return [EnvRead, EnvCount, EnvFile]


EXTRACTOR: FileExtractor = env_reads
OPERATION: Operation = env_counts
