"""The Boost+ paper Example 2 (Table 1) end to end through the CLI."""

import json
import subprocess
import sys

from repo_paths import ROOT

PAPER = {
    "format": "mevauction.scenario/1",
    "world": {"kind": "table"},
    "block_gas_limit": 30000000,
    "orders": [
        {"id": "o1", "gas": 100000, "reads": ["k1"], "writes": ["k1"], "txs": ["0xaa"],
         "bid": {"default": 40, "after": {"o2": 100}}},
        {"id": "o2", "gas": 100000, "reads": ["k1"], "writes": ["k1"], "txs": ["0xbb"],
         "bid": {"default": 50, "after": {"o1": 80}}},
    ],
}


def run_cli(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "mevauction", *args], input=stdin, capture_output=True,
                          text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})


def test_table1_through_cli(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(PAPER))
    proc = run_cli("auction", str(path), "--json", "-")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["format"] == "mevauction.report/1"
    assert report["default"] == {"block": ["o2", "o1"], "value": 150}
    assert report["winner"] == "default"
    assert report["block"] == ["o2", "o1"]
    assert report["searchers"] == {"o1": {"bid": 100, "refund": 70}, "o2": {"bid": 50, "refund": 50}}
    assert report["proposer"] == 30
    assert report["conflict_free"] == []


def test_readable_output_and_json_file(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(PAPER))
    out = tmp_path / "r.json"
    proc = run_cli("auction", str(path), "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "proposer revenue" in proc.stdout
    assert json.loads(out.read_text())["proposer"] == 30


def test_builder_wins_case_4b(tmp_path):
    doc = dict(PAPER, orders=PAPER["orders"] + [
        {"id": "o9", "reads": ["k9"], "writes": ["k9"], "txs": ["0xcc"], "bid": 7}])
    doc["builders"] = [{"id": "B1", "block": ["o2", "o1"], "bid": 170},
                       {"id": "B2", "block": ["o1"], "bid": 160},
                       {"id": "B3", "block": ["o9"], "bid": 500}]
    path = tmp_path / "s.json"
    path.write_text(json.dumps(doc))
    report = json.loads(run_cli("auction", str(path), "--json", "-").stdout)
    assert report["winner"] == "B1"
    assert report["block"] == ["o2", "o1", "o9"]
    b3 = next(b for b in report["builders"] if b["id"] == "B3")
    assert b3["valid"] is False and "conflict-free" in b3["reason"]
    # Winner pays β* + Σ_S b_i = 170 + 7, gets β* − max(β0, β′) = 170 − 160 back.
    assert report["builder_settlement"]["B1"] == {"paid": 177, "refund": 10}
    assert report["builder_settlement"]["B2"] == {"paid": 0, "refund": 0}
    assert report["searchers"]["o9"] == {"bid": 7, "refund": 7}
    assert report["proposer"] == 160 - 120
