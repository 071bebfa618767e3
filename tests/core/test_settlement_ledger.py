"""The settlement ledger: explicit transfers for cases 4a and 4b, and its checks."""

import json
from dataclasses import replace

import pytest
from test_example2 import PAPER

from mevauction.intake.scenario import parse_scenario
from mevauction.mechanism.boost import SearcherSettlement
from mevauction.settlement.ledger import (
    MECHANISM,
    PROPOSER,
    SettlementError,
    check,
    net_positions,
    settle,
    transfers,
)
from mevauction.settlement.report import ReportDocument


def report_for(builders):
    doc = json.loads(json.dumps(PAPER))
    doc["orders"].append({"id": "o9", "reads": ["k9"], "writes": ["k9"], "txs": ["0xcc"], "bid": 7})
    doc["builders"] = builders
    return parse_scenario(doc).run_auction()


def test_case_4a_flows():
    report = report_for([])
    net = net_positions(settle(report))
    # Searchers pay their bids and get refunds: o1 100 − 70, o2 50 − 50, o9 7 − 7.
    assert net == {"o1": -30, "o2": 0, "o9": 0, MECHANISM: 0, PROPOSER: 30}
    assert ReportDocument.of(report).to_json()["transfers"] == [
        {"from": t.payer, "to": t.payee, "amount": t.amount, "reason": t.reason} for t in transfers(report)]


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


def test_a_document_settles_like_the_report_it_was_written_from():
    report = report_for([{"id": "B1", "block": ["o2", "o1"], "bid": 170}])
    assert transfers(ReportDocument.from_json(ReportDocument.of(report).to_json())) == transfers(report)


def test_unbalanced_report_is_refused():
    report = report_for([])
    with pytest.raises(SettlementError, match="mechanism would end the slot"):
        check(transfers(replace(report, proposer=report.proposer + 1)))
    negative = replace(report, searchers={**report.searchers, "o1": SearcherSettlement(100, -1)})
    with pytest.raises(SettlementError, match="negative transfer"):
        check(transfers(negative))
    with pytest.raises(SettlementError, match="negative transfer"):
        ReportDocument.of(negative)
