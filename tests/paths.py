"""Where the tests' data lives, for test modules at any depth of tests/ (no ``Path(__file__)`` sums)."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
#: the checkout: README.md, docs/, examples/, bench/
ROOT = TESTS.parent
#: the fixture trees and their golden files
FIXTURES = TESTS / "fixtures"
