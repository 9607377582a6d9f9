"""Python parsing beyond the running interpreter's grammar.

When ``ast.parse`` rejects a file, :func:`parse_newer` parses it with tree-sitter-python and converts
the tree into a genuine ``ast.Module`` so that every extractor runs on it unchanged; see
docs/newer-syntax.md.
"""
