"""Keep pyarrow from importing pandas when nothing asks for pandas.

pyarrow asks, the first time it converts any Python value (``pa.scalar``, ``pa.array``, ``pa.table``
of a dict), whether the value is a pandas object, and to answer imports pandas: 0.2-0.4 s, more than
a whole no-change run. ``skip_pandas_probe`` makes that first question answer "no pandas" without
importing it: pyarrow records that pandas is absent for its *probes* only, and an explicit pandas
call (``to_pandas()``, ``Table.from_pandas``) still imports it (pyarrow retries the import when
pandas is required). A pandas DataFrame given to ``pa.table`` still converts, through the Arrow C
stream interface that pandas implements. The `quarry` command calls it; library users are untouched.
"""

from __future__ import annotations

import sys


class _NoPandas:
    """A meta-path finder under which ``import pandas`` fails at once (installed for one call)."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError("pandas is not probed by quarry", name=name)


def skip_pandas_probe() -> None:
    if "pandas" in sys.modules:
        return
    import pyarrow as pa

    finder = _NoPandas()
    sys.meta_path.insert(0, finder)
    try:
        pa.scalar(0)  # the first probe: pandas "cannot be imported"; pyarrow remembers it
    finally:
        sys.meta_path.remove(finder)
