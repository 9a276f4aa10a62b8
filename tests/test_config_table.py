"""vibetensor.config: every environment variable declared once, and a scan of the source tree that keeps it so."""

from __future__ import annotations

import doctest
import os
import re
from pathlib import Path

import pytest

import vibetensor.config
from vibetensor.config import VARS, ConfigError, get
from vibetensor.config.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = {".git", ".venv", "build", "node_modules", "__pycache__"}
SOURCES = (".py", ".cpp", ".cc", ".h", ".hpp", ".cu", ".cuh", ".sh")
# An environment read with a literal name: os.environ.get("X"), os.environ["X"], os.getenv("X"), std::getenv("X").
READ = re.compile(r"""(?:os\.environ\.get\(|os\.environ\[|getenv\()\s*["']([A-Z][A-Z0-9_]*)["']""")
MENTION = re.compile(r"\bVIBETENSOR_[A-Z0-9_]*[A-Z0-9]\b")
# The old prefix as a variable: any VT_ word in Python (which has no macros: C++'s VT_CHECK etc. are not
# variables), a quoted "VT_..." in C++, a $VT_... expansion in shell.
OLD = {".py": re.compile(r"\bVT_[A-Z][A-Z0-9_]*"), ".sh": re.compile(r"\$\{?VT_[A-Z][A-Z0-9_]*")}
OLD_C = re.compile(r"""["']VT_[A-Z][A-Z0-9_]*""")


def _files(suffixes):
    """(path, text) of the project's files with these suffixes, this test's own file left out."""
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")]
        for f in files:
            path = Path(folder, f)
            if path.suffix in suffixes and path != Path(__file__).resolve():
                yield path, path.read_text(errors="replace")


def test_every_variable_is_declared_with_a_type_default_and_doc():
    for name, var in VARS.items():
        assert name == var.name and name.startswith("VIBETENSOR_") and len(var.doc) > 20
        assert get(name, {}) == var.default and get(name, {name: ""}) == var.default


def test_docstring_examples(monkeypatch):
    monkeypatch.delenv("VIBETENSOR_P2P_LEVEL", raising=False)
    assert doctest.testmod(vibetensor.config).failed == 0


def test_bad_values_are_value_errors_naming_the_variable():
    with pytest.raises(ConfigError, match="VIBETENSOR_FABRIC_TIMEOUT='soon' is invalid"):
        get("VIBETENSOR_FABRIC_TIMEOUT", {"VIBETENSOR_FABRIC_TIMEOUT": "soon"})
    assert issubclass(ConfigError, ValueError)


def test_read_at_call_time(monkeypatch):
    from vibetensor.fabric.collectives.api import default_timeout
    from vibetensor.fabric.collectives.shm_store import job_id
    monkeypatch.setenv("VIBETENSOR_FABRIC_TIMEOUT", "7.5")
    monkeypatch.setenv("VIBETENSOR_FABRIC_JOB", "job-a")
    assert default_timeout() == 7.5 and job_id() == "job-a"
    monkeypatch.setenv("VIBETENSOR_FABRIC_TIMEOUT", "3")
    monkeypatch.setenv("VIBETENSOR_FABRIC_JOB", "job-b")
    assert default_timeout() == 3.0 and job_id() == "job-b"


def test_every_variable_in_the_source_tree_and_docs_is_declared():
    undeclared, old = set(), set()
    for path, text in _files(SOURCES + (".md",)):
        where = path.relative_to(ROOT)
        names = {m for m in READ.findall(text) if m.startswith(("VIBETENSOR_", "VT_"))} | set(MENTION.findall(text))
        undeclared |= {f"{where}: {n}" for n in names - set(VARS)}
        if path.suffix != ".md":  # csrc/README.md names the VT_CHECK macros
            old |= {f"{where}: {m}" for m in OLD.get(path.suffix, OLD_C).findall(text)}
    assert not undeclared, "declare these in vibetensor/config: " + ", ".join(sorted(undeclared))
    assert not old, "rename these VT_ variables to VIBETENSOR_: " + ", ".join(sorted(old))


def test_the_module_prints_the_table(capsys):
    main()
    out = capsys.readouterr().out
    assert all(name in out for name in VARS) and VARS["VIBETENSOR_P2P_LEVEL"].doc in out
