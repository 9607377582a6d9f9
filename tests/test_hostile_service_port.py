"""A service port in the store's ``config.toml`` that is not a port is one line, and nothing starts.

Found by trust sweep 11: ``quarry up`` read ``[services.ui] port`` with ``int()``: a string ("abc"),
TOML's ``inf``, a list, or a number past 65535 (the socket's bind) were tracebacks, exit 1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.conftest import core_store, quarry


@pytest.mark.parametrize("value", ['"abc"', "inf", "[1]", "99999999", "0", "true", "80.5"])
def test_a_port_that_is_not_one_is_one_line_and_starts_nothing(tmp_path: Path, value: str) -> None:
    store = core_store(tmp_path)
    (store / "config.toml").write_text(f"[services.ui]\nport = {value}\n")
    done = quarry("up", "--store", store, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "services.ui.port must be a whole number from 1 to 65535" in done.stderr
    assert not list((store / "services").glob("*.json")) if (store / "services").exists() else True
