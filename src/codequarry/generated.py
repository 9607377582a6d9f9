"""Minified build outputs: recognised from the file manifest alone, and left to the manifest.

A minified bundle (``graphiql.min.js``, a webpack ``dist/app.js``) is code no one wrote: its
"definitions" are functions named ``a``, ``b``, ``c``, and parsing it is the dearest file of a
corpus (netbox's four bundles were ~1.0 s of its 7.2 s of extraction CPU). GitHub's linguist and
the builders of code datasets mark such files generated and leave them out. Here a recognised file
keeps its ``files`` row, whose ``generated`` column says why it was recognised, and the extractors
of its language skip it; ``quarry extract --include-generated`` parses it as any other file.

The test reads only what the ``files`` row holds (path, language, size, lines): the row says the
same thing whichever process made it, and a file's answer changes only with its name or content.

- ``name``: the file name says minified, ``*.min.js``, ``*-min.js``, ``*.min.css`` (and the other
  JavaScript, TypeScript and CSS extensions);
- ``minified``: the content's lines average more than :data:`MIN_AVERAGE_LINE` bytes over at least
  :data:`MIN_BYTES`. Chosen on real files: hand-written JavaScript, TypeScript and CSS (the npm
  packages of bench/.corpora, netbox's sources, every such file under site-packages, 2,949 files)
  average at most 165 bytes a line (rxjs's generated ``.d.ts`` of a few long signatures), the
  minified outputs found there 186 and above (a 2,255-line ``.min.css``, caught by its name), most
  of them thousands. A tiny file is left alone: its parse costs nothing, and one long line in it
  is the likeliest mistake.
"""

from __future__ import annotations

import os

#: languages whose build outputs are minified, and whose files the test looks at
LANGUAGES = frozenset({"javascript", "typescript", "css"})
MIN_AVERAGE_LINE = 200  # bytes a line, on average
MIN_BYTES = 1024
#: what a ``files`` row's ``generated`` column holds
NAME = "name"
MINIFIED = "minified"


def generated_kind(path: str, language: str | None, size: int, lines: int | None) -> str | None:
    """Why the file at ``path`` is a minified build output (:data:`NAME` or :data:`MINIFIED`), or
    None when it is not one; ``lines`` is the manifest's line count (None: binary)."""
    if language not in LANGUAGES:
        return None
    stem = os.path.splitext(path.rpartition("/")[2])[0].lower()
    if stem.endswith((".min", "-min")):
        return NAME
    if lines and size >= MIN_BYTES and size > MIN_AVERAGE_LINE * lines:
        return MINIFIED
    return None
