"""The version of codequarry, importable by any module without importing the whole package."""

from __future__ import annotations

__version__ = "0.1.0"
