"""Renderings of a result table shared by the CLI and the web UI, so both give the same bytes."""

from __future__ import annotations

import io
import json

import pyarrow as pa


def csv_text(result: pa.Table) -> str:
    """CSV with a header; nested values as JSON, dictionary columns decoded."""
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    cols = []
    for col in result.columns:
        if pa.types.is_nested(col.type):
            col = pa.array([json.dumps(v, default=str) if v is not None else None for v in col.to_pylist()])
        cols.append(col if not pa.types.is_dictionary(col.type) else pc.cast(col, pa.string()))
    flat = pa.table(cols, names=result.column_names)
    buf = io.BytesIO()
    pacsv.write_csv(flat, buf)
    return buf.getvalue().decode("utf-8")
