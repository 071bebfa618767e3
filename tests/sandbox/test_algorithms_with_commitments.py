"""Submitted algorithms on a slot with preconfirmation commitments (issue 13 × issue 14).

A jailed script sees M \\ S without the committed bundles (they are not its to place), so
it cannot move, drop or imitate one: a script that names the committed order anyway is
invalid with the reason, an honest script's block is laid out after the commitments, and
the final block opens with the committed bundle whoever wins.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mevauction.intake.scenario import parse_scenario

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap not installed")

# Sees what it is given; tries to place the committed order last, after its own block.
SNEAKY = '''
import mevalgo

def build(slot, sim):
    ids = [o.id for o in slot.orders]
    return ids + ["c1"], 10**18

if __name__ == "__main__":
    mevalgo.run(build)
'''

# Keeps every order that succeeds and pays, in id order; bids the block's value.
HONEST = '''
import mevalgo

def build(slot, sim):
    block = []
    for order in sorted(slot.orders, key=lambda o: o.id):
        out = sim.push(order.id)
        if out.success and out.bid > 0:
            block.append(order.id)
        else:
            sim.pop()
    return block, "truthful"

if __name__ == "__main__":
    mevalgo.run(build)
'''


def order(oid, keys, bid, after=None, gas=21_000):
    return {"id": oid, "reads": keys, "writes": keys, "txs": ["0x" + oid], "gas": gas,
            "bid": {"default": bid, "after": after or {}}}


def test_scripts_cannot_place_a_committed_bundle_and_the_block_still_opens_with_it(tmp_path: Path):
    (tmp_path / "sneaky.py").write_text(SNEAKY)
    (tmp_path / "honest.py").write_text(HONEST)
    doc = {"format": "mevauction.scenario/1", "world": {"kind": "table"},
           "orders": [order("c1", ["k1"], 500, gas=100_000), order("a", ["k1"], 10, {"c1": 40}),
                      order("b", ["k2"], 30), order("s", ["k5"], 7)],
           "commitments": [{"order": "c1", "commitment": "d1"}],
           "builders": [{"id": "sneaky", "script": "sneaky.py"}, {"id": "honest", "script": "honest.py"}]}
    (tmp_path / "s.json").write_text(json.dumps(doc))
    report = parse_scenario(doc, base=tmp_path).run_auction()
    by = {c.id: c for c in report.builders}
    assert not by["sneaky"].valid and by["sneaky"].reason == "names unknown order 'c1'", by["sneaky"]
    assert by["honest"].valid, by["honest"]
    assert report.block[0] == "c1"
    [c] = report.commitments
    assert c.included and c.index == 0
    # the honest script valued "a" after the commitment (its bid there is 40, not 10)
    assert "c1" not in by["honest"].block.orders and by["honest"].block.bids["a"] == 40, by["honest"]
