"""Python structural layers: symbol tables, bytecode, every AST node, LibCST metadata, parse manifest.

One module per layer; each shares the file's parse products (``SourceFile.tree``, ``.symtable``,
``.bytecode``, ``.cst``), computed once per file whatever else runs. Which layers run by default is
decided by their measured cost on the standard library (``bench/layers.py``, docs/tables/layers.md).
"""
