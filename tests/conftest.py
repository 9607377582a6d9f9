"""Shared pytest options and fixtures: ``--update-golden`` comes from the public test helpers."""

from __future__ import annotations

import pytest

pytest_plugins = ["codequarry.testing"]


@pytest.fixture
def update_golden() -> bool:
    """True when the run should rewrite golden files instead of only comparing against them."""
    from codequarry.testing import updating_goldens

    return updating_goldens()
