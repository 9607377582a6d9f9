"""The report's platform field: platform.platform()'s text, without the process it starts."""

from __future__ import annotations

import platform
import sys

import pytest

from codequarry.report.collect import platform_name


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the uname -p process is Linux's")
def test_platform_name_says_what_platform_platform_says() -> None:
    assert platform_name() == platform.platform()
