"""The settlement ledger: explicit transfers for cases 4a and 4b, and its checks."""

import json

import pytest

from mevauction.intake.scenario import parse_scenario
from mevauction.mechanism.boost import run_auction
from mevauction.settlement.ledger import MECHANISM, PROPOSER, SettlementError, check, net_positions, settle, transfers
from test_example2 import PAPER


def report_for(builders):
    doc = json.loads(json.dumps(PAPER))
    doc["orders"].append({"id": "o9", "reads": ["k9"], "writes": ["k9"], "txs": ["0xcc"], "bid": 7})
    doc["builders"] = builders
    return run_auction(parse_scenario(doc)).to_json()


def test_case_4a_flows():
    report = report_for([])
    net = net_positions(settle(report))
    # Searchers pay their bids and get refunds: o1 100 − 70, o2 50 − 50, o9 7 − 7.
    assert net == {"o1": -30, "o2": 0, "o9": 0, MECHANISM: 0, PROPOSER: 30}
    assert report["transfers"] == [{"from": t.payer, "to": t.payee, "amount": t.amount, "reason": t.reason}
                                   for t in transfers(report)]


def test_case_4b_flows():
    report = report_for([{"id": "B1", "block": ["o2", "o1"], "bid": 170},
                         {"id": "B2", "block": ["o1"], "bid": 160}])
    flows = settle(report)
    net = net_positions(flows)
    # Searchers pay B1 (150 + 7); B1 pays 177 and gets 10 back; the proposer gets 160 − 120.
    assert net[MECHANISM] == 0 and net[PROPOSER] == 40
    assert net["B1"] == 157 - 177 + 10
    assert net["o1"] == -100 + 70 and net["o2"] == 0 and net["o9"] == 0
    assert ("o9", "B1", 7) in {(t.payer, t.payee, t.amount) for t in flows}


def test_unbalanced_report_is_refused():
    report = report_for([])
    report["proposer"] += 1
    with pytest.raises(SettlementError, match="mechanism would end the slot"):
        check(transfers(report))
    report["proposer"] -= 1
    report["searchers"]["o1"]["refund"] = -1
    with pytest.raises(SettlementError, match="negative transfer"):
        check(transfers(report))
