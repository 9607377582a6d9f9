"""Core facts of Python files: modules, functions, classes, imports, calls and assignments.

One extractor per dataset (a module each; :mod:`.defs` holds functions and classes), each a single
pass over the node types it needs from the file's index.
Every span is ``line, col, end_line, end_col``: lines from 1, columns from 0 in characters (not the
UTF-8 byte offsets the ``ast`` module reports). Source-text columns (decorators, annotations,
defaults, bases) hold the text as written. Names are resolved statically as
:mod:`codequarry.python.resolve` describes; nothing from the scanned code is imported.
"""
