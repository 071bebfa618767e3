"""The builders' side of settlement, over random slots (no service process).

For random ``table`` slots with random builders and random deposits, settled the way the
service settles them (``covered_report`` then ``settle.records``): every slot's ledger
balances, each party's totals are its net position under the report's transfers, the
winner is debited exactly its payment (covered by its free deposit), a disqualified winner
forfeits its free deposit and does not win, and the public report shows no losing bid.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.table_strategies import table_scenarios  # tests/ is on the path (conftest.py)
from mevauction.errors import InputError
from mevauction.service import settle
from mevauction.service.builders import BuilderRegistry, covered_report, spent
from mevauction.settlement.ledger import MECHANISM, PROPOSER, net_positions, transfers
from mevauction.settlement.report import ReportDocument
from property_settings import examples

SETTINGS = settings(max_examples=examples(80), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def settle_like_the_service(scenario: dict, deposits: dict[str, int], slot: int = 7):
    registry = BuilderRegistry(deposits)

    async def run(sc: dict) -> dict:
        return settle.run_scenario(sc, 8)

    report, penalties = asyncio.run(covered_report(run, scenario, registry, slot))
    settled = settle.records(slot, {"kind": "table"}, scenario, report, settle.ZERO_HASH, "test", 0, {},
                             {}, penalties)
    return registry, report, penalties, settled


# Builders running the default algorithm always have a valid block, so case 4b is common;
# a deposit is ample or anything up to 600 wei (then a winner is often disqualified).
valid_builders = st.lists(st.tuples(st.one_of(st.just("truthful"), st.integers(0, 400)),
                                    st.one_of(st.just(10**6), st.integers(0, 600))), max_size=3)


@SETTINGS
@given(scenario=table_scenarios(), deposits=st.lists(st.integers(0, 600), min_size=3, max_size=3),
       extra=valid_builders)
def test_random_slots_balance_and_the_winner_pays_from_its_deposit(scenario, deposits, extra):
    scenario["block_gas_limit"] = 30_000_000
    by_builder = {b["id"]: d for b, d in zip(scenario.get("builders", []), deposits)}
    for k, (bid, deposit) in enumerate(extra):
        scenario.setdefault("builders", []).append({"id": f"D{k}", "algorithm": "default", "bid": bid})
        by_builder[f"D{k}"] = deposit
    registry, report, penalties, settled = settle_like_the_service(scenario, by_builder)
    assert sum(p.paid for p in settled.settlements) == sum(p.received for p in settled.settlements)
    if "error" in report:
        return
    doc = ReportDocument.from_json(report)
    net = net_positions(transfers(doc))
    totals = {(p.role, p.party): p.received - p.paid for p in settled.settlements}
    for oid in doc.searchers:
        assert totals[("searcher", oid)] == net.get(oid, 0)
    assert totals[("mechanism", MECHANISM)] == 0
    fee_recipient = settle.identity("fee-recipient", "test", 7)
    assert totals[("proposer", fee_recipient)] == net.get(PROPOSER, 0) + sum(penalties.values())
    debits = spent(settled.deposits)
    for builder, penalty in penalties.items():  # disqualified: it forfeits all it had and does not win
        assert penalty == by_builder[builder] and builder != doc.winner
        assert totals[("builder", builder)] == net.get(builder, 0) - penalty
    if doc.winner != "default":
        owed = doc.builder_settlement[doc.winner]
        assert owed.paid <= by_builder[doc.winner]  # covered
        assert debits[doc.winner] == owed.paid - owed.refund
        assert {(e.entry, e.amount) for e in settled.deposits if e.builder == doc.winner} == \
            {("debit", owed.paid)} | ({("credit", owed.refund)} if owed.refund else set())
    public = settle.without_losing_bids(report)
    for entry in public["builders"]:
        if entry["id"] != doc.winner:
            assert set(entry) <= {"id", "valid", "reason"}
    assert all(b.value is None for b in settled.builder_blocks if b.builder not in ("default", doc.winner))
    registry.settled(7, settled.deposits)
    for builder, deposit in by_builder.items():
        assert registry.free(builder) == deposit - debits.get(builder, 0)


def test_bids_are_checked_against_the_free_deposit_with_holds():
    registry = BuilderRegistry({"0xb": 1000})
    with pytest.raises(InputError) as refused:
        registry.admit("0xa", 1, 5, sealed=False)
    assert refused.value.field == "builder" and "0xa" in refused.value.message
    assert registry.admit("0xb", 1, 700, sealed=False) == 700
    registry.hold(1, "0xb", 700)
    assert registry.free("0xb") == 300 and registry.free("0xb", except_slot=1) == 1000
    assert registry.admit("0xb", 1, 1000, sealed=False) == 1000  # a replacement: its own hold is released
    for bid in (301, 2**128):
        with pytest.raises(InputError) as refused:
            registry.admit("0xb", 2, bid, sealed=False)
        assert refused.value.field == "bid"
    assert registry.admit("0xb", 2, 10**6, sealed=True) == 0  # sealed: checked on the outcome
    with pytest.raises(InputError) as refused:
        registry.admit("0xb", 2, 2**128, sealed=True)
    assert refused.value.field == "bid" and str(2**128) not in refused.value.message
    registry.settled(1, [])
    assert registry.free("0xb") == 1000
