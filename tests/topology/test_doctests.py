"""The examples in the topology package's docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import vibetensor.fabric.topology as topo

MODULES = sorted(m.name for m in pkgutil.walk_packages(topo.__path__, topo.__name__ + ".")
                 if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", [topo.__name__] + MODULES)
def test_docstring_examples(name, monkeypatch):
    for var in ("VIBETENSOR_P2P_LEVEL", "VIBETENSOR_ONESHOT_MAX_BYTES"):
        monkeypatch.delenv(var, raising=False)
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0


def test_public_functions_have_examples():
    # Public API functions carry a runnable example (classes and constants are documented in prose).
    missing = [n for n in topo.__all__ if callable(getattr(topo, n)) and not isinstance(getattr(topo, n), type)
               and ">>>" not in (getattr(topo, n).__doc__ or "")]
    assert missing == []
