"""The ``mevauction.report/1`` document as a typed model (settlement/report.py).

The golden reports in data/reports were written by ``mevauction auction --json`` before
the report became a typed model; the document written today must be the same bytes.
"""

import copy
import json
from pathlib import Path

import pytest
from test_example2 import run_cli

from mevauction.errors import InputError
from mevauction.intake.scenario import load_scenario
from mevauction.settlement.report import ReportDocument

DATA = Path(__file__).parent / "data" / "reports"
SCENARIOS = sorted(DATA.glob("*.scenario.json"))


def golden(scenario: Path) -> Path:
    return scenario.with_name(scenario.name.replace(".scenario.json", ".report.json"))


def cli_text(doc: dict) -> str:
    """What ``write_json`` writes (cli/output.py)."""
    return json.dumps(doc, indent=2) + "\n"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.name.split(".")[0])
def test_the_document_is_byte_identical_to_the_golden_report_and_reads_back(scenario):
    text = golden(scenario).read_text()
    written = ReportDocument.of(load_scenario(scenario).run_auction())
    assert cli_text(written.to_json()) == text
    parsed = ReportDocument.from_json(json.loads(text))
    assert parsed == written
    assert cli_text(parsed.to_json()) == text


def test_the_cli_writes_the_golden_bytes(tmp_path):
    out = tmp_path / "r.json"
    proc = run_cli("auction", str(DATA / "table1-4b.scenario.json"), "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == (DATA / "table1-4b.report.json").read_text()


def test_the_golden_set_covers_both_cases_and_rejected_builders():
    docs = [json.loads(golden(s).read_text()) for s in SCENARIOS]
    assert {d["case"] for d in docs} == {"4a", "4b"}
    assert any("reason" in b for d in docs for b in d["builders"])
    assert {json.loads(s.read_text())["world"]["kind"] for s in SCENARIOS} == {"table", "amm", "evm"}


def table1_4b() -> dict:
    return json.loads((DATA / "table1-4b.report.json").read_text())


def mutated(change) -> dict:
    doc = copy.deepcopy(table1_4b())
    change(doc)
    return doc


def set_proposer_and_its_transfer(doc: dict, amount: int) -> None:
    doc["proposer"] = amount
    next(t for t in doc["transfers"] if t["to"] == "proposer")["amount"] = amount


BAD = {
    "format": lambda d: d.update(format="mevauction.report/2"),
    "groups": lambda d: d.pop("groups"),
    "extra": lambda d: d.update(extra=1),
    "proposer": lambda d: d.update(proposer=True),
    "price": lambda d: d.update(price="160"),
    "searchers.o1.refund": lambda d: d["searchers"]["o1"].update(refund=-1),
    "searchers.o1.paid": lambda d: d["searchers"]["o1"].update(paid=1),
    "default.value": lambda d: d["default"].pop("value"),
    "builders[1].bid": lambda d: d["builders"][1].update(bid=1.5),
    "builders[2].reason": lambda d: d["builders"][2].pop("reason"),
    "block[0]": lambda d: d["block"].__setitem__(0, ""),
    "block[1]": lambda d: d["block"].__setitem__(1, "o7"),
    "winner": lambda d: d.update(winner="B3"),
    "case": lambda d: d.update(case="4a"),
    "builder_settlement": lambda d: d["builder_settlement"].pop("B2"),
    "transfers[0].amount": lambda d: d["transfers"][0].update(amount=None),
    "transfers": lambda d: d["transfers"].reverse(),
}


@pytest.mark.parametrize("field", BAD)
def test_a_bad_document_names_the_field(field):
    with pytest.raises(InputError) as err:
        ReportDocument.from_json(mutated(BAD[field]))
    assert err.value.field == field


def test_transfers_that_leave_the_mechanism_a_balance_are_refused():
    doc = mutated(lambda d: set_proposer_and_its_transfer(d, d["proposer"] + 1))
    with pytest.raises(InputError, match="mechanism would end the slot with -1 wei") as err:
        ReportDocument.from_json(doc)
    assert err.value.field == "transfers"


def test_amounts_that_do_not_match_their_transfers_are_refused():
    doc = mutated(lambda d: d["searchers"]["o1"].update(refund=69))
    with pytest.raises(InputError, match="do not match") as err:
        ReportDocument.from_json(doc)
    assert err.value.field == "transfers"
