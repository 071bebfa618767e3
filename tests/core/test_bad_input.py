"""Bad scenarios: non-zero exit, one line naming the problem, no traceback."""

import json

import pytest
from test_example2 import PAPER, run_cli


def variant(**changes):
    doc = json.loads(json.dumps(PAPER))
    for path, value in changes.items():
        target = doc
        *parents, last = path.split("__")
        for p in parents:
            target = target[int(p)] if p.isdigit() else target[p]
        if value is KeyError:
            del target[int(last) if last.isdigit() else last]
        else:
            target[int(last) if last.isdigit() else last] = value
    return json.dumps(doc)


CASES = [
    ("missing bid", variant(orders__0__bid=KeyError), "orders[0].bid"),
    ("missing id", variant(orders__1__id=KeyError), "orders[1].id"),
    ("negative amount", variant(orders__0__bid={"default": -5}), "orders[0].bid.default"),
    ("float amount", variant(orders__0__bid={"default": 1.5}), "orders[0].bid.default"),
    ("duplicate ids", variant(orders__1__id="o1"), "duplicate order id"),
    ("unknown world", variant(world={"kind": "moon"}), "world.kind"),
    ("wrong format", variant(format="other/1"), "format"),
    ("orders not a list", variant(orders={}), "orders"),
    ("bad builder bid", variant(builders=[{"id": "B", "block": ["o1"], "bid": -1}]), "builders[0].bid"),
    ("builder without block", variant(builders=[{"id": "B", "bid": 1}]), "builders[0]"),
    ("non-JSON", "{not json", "not valid JSON"),
]


@pytest.mark.parametrize("name,text,needle", CASES, ids=[c[0] for c in CASES])
def test_bad_scenario_one_line(tmp_path, name, text, needle):
    path = tmp_path / "bad.json"
    path.write_text(text)
    proc = run_cli("auction", str(path), "--json", "-")
    assert proc.returncode != 0
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error:") and needle in lines[0]
    assert "Traceback" not in proc.stderr


def test_unknown_order_in_builder_block_is_reported_not_fatal(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(variant(builders=[{"id": "B1", "block": ["o2", "nope"], "bid": 999},
                                      {"id": "B2", "block": ["o2", "o2"], "bid": 998}]))
    proc = run_cli("auction", str(path), "--json", "-")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    reasons = {b["id"]: b.get("reason", "") for b in report["builders"]}
    assert "unknown order 'nope'" in reasons["B1"] and "repeats order 'o2'" in reasons["B2"]
    assert report["winner"] == "default" and report["proposer"] == 30


def test_missing_file():
    proc = run_cli("auction", "/nonexistent/s.json")
    assert proc.returncode != 0 and proc.stderr.count("\n") == 1 and "cannot read" in proc.stderr
