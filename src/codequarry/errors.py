"""The error hierarchy. Every message says what went wrong, where, and how to fix it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def printable(text: str, *, tabs: bool = True) -> str:
    """``text`` safe to print on a terminal: a newline, a terminal escape or a bidi override (from a
    file name or a message quoting corpus text) escaped as Python writes it (``\\x1b``), tabs kept
    unless ``tabs`` is False (a tab-separated listing), so corpus text can neither forge a line or a
    column nor recolour, retitle or rewrite the user's terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or (tabs and c == "\t") else repr(c)[1:-1] for c in text)


class QuarryError(Exception):
    """Root of every error codequarry raises on purpose; the CLI prints it on one line, exit 2."""

    exit_code = 2


class UsageError(QuarryError):
    """The user asked for something impossible: a missing path, a bad option value."""


class OperationError(QuarryError):
    """An operation failed; the run publishes nothing."""

    exit_code = 1


class StoreError(QuarryError):
    """The store is missing, is not a store, or is in a state we cannot read."""


class StoreLockedError(StoreError):
    """Another process holds the store's writer lock."""


class DeclarationError(QuarryError):
    """Extractors, datasets or operations are declared inconsistently (checked before any file is read)."""


class SchemaError(QuarryError):
    """A row does not fit its dataset's declared schema."""


class QueryError(QuarryError):
    """A SQL query failed to plan or run."""


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return ' Did you mean 'x'?' for the closest candidate, or ''."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""
