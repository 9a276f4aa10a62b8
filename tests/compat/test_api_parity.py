"""tools/api_parity.py runs, writes its JSON report, and its hand-picked COMMON names are real torch names."""
import importlib.util
import json
import os

import pytest

from helpers import torch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.skipif(torch is None, reason="the parity checker reads torch's own name lists")


def _tool():
    spec = importlib.util.spec_from_file_location("api_parity", os.path.join(REPO, "tools", "api_parity.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_report_counts_and_missing_lists(tmp_path, capsys):
    tool = _tool()
    out = tmp_path / "parity.json"
    assert tool.main(["--json", str(out), "--missing", "all"]) == 0
    report = json.loads(out.read_text())
    assert set(report["sections"]) == set(tool.SECTIONS)
    for name, s in report["sections"].items():
        assert s["present"] + len(s["missing"]) == s["total"] > 0, name
        assert s["common"]["present"] + len(s["common"]["missing"]) == s["common"]["total"], name
    nn = report["sections"]["torch.nn"]
    assert "Linear" not in nn["missing"] and "Conv2d" in nn["missing"]  # a name we have, one we don't yet
    assert "einsum" in report["sections"]["torch"]["missing"]
    assert report["totals"]["present"] == sum(s["present"] for s in report["sections"].values())
    text = capsys.readouterr().out
    assert "| torch.nn.functional |" in text and "missing from torch.nn (all" in text


def test_common_names_exist_in_torch():
    tool = _tool()
    for section, names in tool.COMMON.items():
        obj = tool._resolve(torch, section)
        assert [n for n in names if not hasattr(obj, n)] == [], section
        assert len(set(names)) == len(names), section
