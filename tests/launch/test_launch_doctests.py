"""The examples in the launcher's docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["devices", "environment", "external", "output", "supervise"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(f"vibetensor.launch.{name}"))
    assert result.failed == 0 and result.attempted > 0
