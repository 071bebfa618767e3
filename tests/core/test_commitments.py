"""Preconfirmation commitments as constraints of the auction (issue 14 item 1;
mechanism/commitments.py, docs/mechanism.md "Departures" (f)).

Unit cases: a builder block omitting / misplacing a committed bundle is invalid with the
reason; orders sharing a committed transaction are left out; the committed gas is
reserved. Properties (Hypothesis, random table slots with random commitments): the
refund bounds and exact budget balance, IR for truthful searchers and no profitable
misreport when the default wins all still hold; committed bundles open (or close) the
final block in commitment order; the final block fits the limit.
"""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from table_strategies import table_scenarios
from test_incentives import check_accounting, scaled, utility

from mevauction.errors import InputError
from mevauction.intake.scenario import parse_scenario
from mevauction.settlement.report import ReportDocument
from property_settings import examples

SETTINGS = settings(max_examples=examples(120), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def order(oid, keys, bid, after=None, txs=None, gas=21_000):
    return {"id": oid, "reads": keys, "writes": keys, "txs": txs or ["0x" + oid], "gas": gas,
            "bid": {"default": bid, "after": after or {}}}


def slot(commitments, builders=(), limit=30_000_000, extra=()):
    orders = [order("c1", ["k1"], 500, gas=100_000), order("a", ["k1"], 10, {"c1": 40}), order("b", ["k1"], 30),
              order("s", ["k5"], 7), *extra]
    return {"format": "mevauction.scenario/1", "world": {"kind": "table"}, "orders": orders,
            "commitments": commitments, "builders": list(builders), "block_gas_limit": limit}


def test_committed_bundle_opens_the_block_and_is_no_bid():
    report = parse_scenario(slot([{"order": "c1", "commitment": "d1"}])).run_auction()
    assert report.block[0] == "c1"
    # what c1 pays the coinbase is paid back in full: its price was the preconfirmation bid
    assert report.searchers["c1"].bid == 500 and report.searchers["c1"].refund == 500
    # a's bid is the one it makes after c1: the default plans on the state after the commitment.
    assert report.default.block.bids["a"] == 40
    assert report.beta0 == 70  # c1's own 500 is not part of β0
    [c] = report.commitments
    assert (c.order, c.commitment, c.included, c.index, c.reason) == ("c1", "d1", True, 0, None)
    check_accounting(report)


def test_builder_block_omitting_or_misplacing_a_commitment_is_invalid():
    builders = [{"id": "omits", "block": ["a", "b"], "bid": 1000},
                {"id": "late", "block": ["a", "c1", "b"], "bid": 1000},
                {"id": "keeps", "block": ["c1", "b", "a"], "bid": 80},
                {"id": "algo", "algorithm": "default", "bid": "truthful"}]
    report = parse_scenario(slot([{"order": "c1"}], builders)).run_auction()
    by = {c.id: c for c in report.builders}
    assert not by["omits"].valid and by["omits"].reason == "omits committed bundle 'c1'"
    assert not by["late"].valid and "must open the block" in by["late"].reason
    assert by["keeps"].valid and by["algo"].valid
    assert report.winner == "keeps" and report.block[0] == "c1"
    # the winner collects every bid in its block, c1's too, and hands it to the mechanism
    assert report.builder_settlement["keeps"].paid == 80 + 7 + 500
    check_accounting(report)


def test_bottom_anchor_closes_the_block_after_the_conflict_free_orders():
    report = parse_scenario(slot([{"order": "c1", "anchor": "bottom", "position": 1}])).run_auction()
    assert report.block[-1] == "c1" and report.block[-2] == "s"
    assert report.commitments[0].reason is None
    # mev-commit's bottom rule is index ≥ n − value: value 0 can never be met.
    strict = parse_scenario(slot([{"order": "c1", "anchor": "bottom", "position": 0}])).run_auction()
    assert "asked ≥ 4" in strict.commitments[0].reason


def test_position_constraint_that_the_layout_cannot_meet_is_reported():
    extra = [order("c2", ["k7"], 1)]
    report = parse_scenario(slot([{"order": "c1", "position": 0}, {"order": "c2", "position": 0}],
                                 extra=extra)).run_auction()
    assert report.block[:2] == ["c1", "c2"]
    assert report.commitments[0].reason is None and "index 1" in report.commitments[1].reason


def test_a_bundle_asking_for_a_position_opens_the_block_before_one_asking_for_none():
    extra = [order("c2", ["k7"], 1)]
    report = parse_scenario(slot([{"order": "c1"}, {"order": "c2", "position": 0}], extra=extra)).run_auction()
    assert report.block[:2] == ["c2", "c1"]
    assert [c.reason for c in report.commitments] == [None, None]


PERCENTILE_30 = [{"order": "c1", "position": 0}, {"order": "c2", "position": 30, "basis": "percentile"}]


def test_a_builder_block_breaking_a_percentile_position_the_default_keeps_is_invalid():
    # c2 opens the block second (index 1): top 30 % of n needs 1 ≤ n·30 // 100, n ≥ 4.
    # o* fills the block (c1, c2, b/a, s: n ≥ 4); the thin builder's block is c1, c2, s (n = 3).
    builders = [{"id": "thin", "block": ["c1", "c2"], "bid": 10_000},
                {"id": "full", "block": ["c1", "c2", "b", "a"], "bid": 90}]
    report = parse_scenario(slot(PERCENTILE_30, builders, extra=[order("c2", ["k7"], 1)])).run_auction()
    by = {c.id: c for c in report.builders}
    assert not by["thin"].valid and by["thin"].bid == 0
    assert by["thin"].reason.startswith("breaks the position of committed bundle 'c2'")
    assert by["full"].valid and report.winner == "full"
    assert [c.reason for c in report.commitments] == [None, None]
    check_accounting(report)


def test_every_position_constraint_of_a_bundle_binds_the_builders_block():
    # c2 (two transactions, second at index 2) asks ≤ 5 from the top — its first
    # transaction meets that — and the top 30 % of the transactions, which only its second
    # can then meet (each transaction meets one constraint): 2 ≤ n·30 // 100 needs n ≥ 7.
    # o* (c1, c2, a, b, then S: s, d, e) has 8; the thin builder's block (c1, c2, S) 6.
    cs = [{"order": "c1", "position": 0},
          {"order": "c2", "position": 5, "more_positions": [{"anchor": "top", "position": 30, "basis": "percentile"}]}]
    extra = [order("c2", ["k7"], 1, txs=["0xc2a", "0xc2b"]), order("d", ["k8"], 2), order("e", ["k9"], 3)]
    builders = [{"id": "thin", "block": ["c1", "c2"], "bid": 10_000}]
    report = parse_scenario(slot(cs, builders, extra=extra)).run_auction()
    thin = report.builders[0]
    assert not thin.valid and "percentile" in thin.reason, thin.reason
    assert report.winner == "default" and [c.reason for c in report.commitments] == [None, None]
    check_accounting(report)
    # the first constraint alone is met by the thin block: it wins
    alone = parse_scenario(slot([cs[0], {"order": "c2", "position": 5}], builders, extra=extra)).run_auction()
    assert alone.winner == "thin"


def test_a_one_transaction_bundle_cannot_keep_two_position_constraints():
    cs = [{"order": "c1", "position": 0, "more_positions": [{"anchor": "top", "position": 3}]}]
    report = parse_scenario(slot(cs)).run_auction()
    assert "≤ 3 from the top" in report.commitments[0].reason  # its one transaction took the first


def test_more_positions_need_a_first_and_name_the_field():
    with pytest.raises(InputError, match=r"commitments\[0\]\.more_positions"):
        parse_scenario(slot([{"order": "c1", "more_positions": [{"anchor": "top", "position": 1}]}]))
    with pytest.raises(InputError, match=r"more_positions\[0\]\.anchor"):
        parse_scenario(slot([{"order": "c1", "position": 0, "more_positions": [{"position": 1}]}]))


def test_a_gas_percentile_position_is_judged_on_declared_gas():
    # c2 second, after c1's 100k: top 50 % of the gas needs ≥ 200k in the block.
    cs = [{"order": "c1", "position": 0}, {"order": "c2", "position": 50, "basis": "gas_percentile"}]
    met = parse_scenario(slot(cs, extra=[order("c2", ["k7"], 1, gas=150_000)])).run_auction()
    assert met.commitments[1].reason is None
    broken = parse_scenario(slot(cs, extra=[order("c2", ["k7"], 1, gas=10_000)], limit=131_000)).run_auction()
    assert "gas before it" in broken.commitments[1].reason and "gas_percentile" in broken.commitments[1].reason


def test_orders_sharing_a_committed_transaction_are_left_out():
    extra = [order("x", ["k9"], 99, txs=["0xx", "0xc1"])]
    report = parse_scenario(slot([{"order": "c1"}], extra=extra)).run_auction()
    assert "x" not in report.block and report.excluded["x"].startswith("shares a transaction")
    doc = ReportDocument.of(report).to_json()
    assert doc["excluded"] == report.excluded and doc["commitments"][0]["order"] == "c1"
    assert ReportDocument.from_json(doc).commitments == tuple(doc["commitments"])


def test_committed_gas_is_reserved():
    # 121k limit: c1 (100k) leaves 21k: one of a, b, s only.
    report = parse_scenario(slot([{"order": "c1"}], limit=121_000)).run_auction()
    gas = {o: 100_000 if o == "c1" else 21_000 for o in report.block}
    assert sum(gas.values()) <= 121_000 and report.block[0] == "c1"
    without = parse_scenario(slot([], limit=121_000)).run_auction()
    assert "c1" not in without.block or len(without.block) <= 2


@pytest.mark.parametrize("bad, field", [
    ([{"order": "nope"}], "commitments[0].order"),
    ([{"order": "c1", "anchor": "middle"}], "commitments[0].anchor"),
    ([{"order": "c1", "position": -1}], "commitments[0].position"),
    ([{"order": "c1", "position": 1, "basis": "median"}], "commitments[0].basis"),
    ([{"order": "c1"}, {"order": "c1"}], "commitments[1].order"),
    ("c1", "commitments"),
])
def test_bad_commitments_name_the_field(bad, field):
    with pytest.raises(InputError) as exc:
        parse_scenario(slot(bad)).run_auction()
    assert exc.value.field == field


@st.composite
def committed_slots(draw, builders=True):
    doc = draw(table_scenarios(max_orders=8, builders=builders, gas=draw(st.booleans())))
    ids = [o["id"] for o in doc["orders"]]
    chosen = draw(st.lists(st.sampled_from(ids), max_size=2, unique=True))
    taken: set[str] = set()
    commitments = []
    for oid in chosen:
        txs = set(next(o["txs"] for o in doc["orders"] if o["id"] == oid))
        if txs & taken:
            continue
        taken |= txs
        c = {"order": oid, "anchor": draw(st.sampled_from(["top", "bottom"]))}
        if draw(st.booleans()):  # a position constraint, on any basis, and maybe further ones
            c.update(position=draw(st.integers(0, 100)),
                     basis=draw(st.sampled_from(["absolute", "percentile", "gas_percentile"])))
            more = draw(st.lists(st.fixed_dictionaries({
                "anchor": st.sampled_from(["top", "bottom"]), "position": st.integers(0, 100),
                "basis": st.sampled_from(["absolute", "percentile", "gas_percentile"])}), max_size=2))
            if more:
                c["more_positions"] = more
        commitments.append(c)
    doc["commitments"] = commitments
    return doc


def committed_layout_holds(doc, report):
    # commitment-first: those asking for a position open the block, in commitment order
    top = [c["order"] for c in sorted((c for c in doc["commitments"] if c["anchor"] == "top"),
                                      key=lambda c: "position" not in c)]
    bottom = [c["order"] for c in doc["commitments"] if c["anchor"] == "bottom"]
    included = {c.order for c in report.commitments if c.included}
    assert [o for o in report.block if o in top] == [o for o in top if o in included]
    assert report.block[:len([o for o in top if o in included])] == [o for o in top if o in included]
    tail = [o for o in bottom if o in included]
    assert report.block[len(report.block) - len(tail):] == tail
    gas = {o["id"]: o.get("gas", 21_000) for o in doc["orders"]}
    assert sum(gas[o] for o in report.block if o not in bottom and o not in top) + \
        sum(gas[c["order"]] for c in doc["commitments"]) <= doc.get("block_gas_limit", 30_000_000) or \
        sum(gas[c["order"]] for c in doc["commitments"]) > doc.get("block_gas_limit", 30_000_000)
    for c in report.builders:  # an explicit block that does not lay the commitments out is invalid
        if doc["commitments"] and c.valid:
            sub = next(b for b in doc["builders"] if b["id"] == c.id)
            assert sub["block"][:len(top)] == top


@SETTINGS
@given(committed_slots(), st.sampled_from([3, 8]))
def test_refunds_budget_balance_and_layout_with_commitments(doc, k_cutoff):
    report = parse_scenario(doc).run_auction(k_cutoff=k_cutoff)
    check_accounting(report)
    committed_layout_holds(doc, report)


@SETTINGS
@given(committed_slots(builders=False), st.sampled_from([3, 8]))
def test_individual_rationality_with_commitments(doc, k_cutoff):
    report = parse_scenario(doc).run_auction(k_cutoff=k_cutoff)
    for oid in report.searchers:
        assert utility(doc, report, oid) >= 0


@SETTINGS
@given(committed_slots(builders=False), st.sampled_from([3, 8]), st.data())
def test_no_profitable_misreport_with_commitments(doc, k_cutoff, data):
    committed = {c["order"] for c in doc["commitments"]}
    free = [o["id"] for o in doc["orders"] if o["id"] not in committed]
    if not free:
        return
    truthful = parse_scenario(doc).run_auction(k_cutoff=k_cutoff)
    oid = data.draw(st.sampled_from(free))
    num, den = data.draw(st.sampled_from([(0, 1), (1, 2), (9, 10), (11, 10), (2, 1), (5, 1)]))
    lie = parse_scenario(scaled(copy.deepcopy(doc), oid, num, den)).run_auction(k_cutoff=k_cutoff)
    assert utility(doc, lie, oid) <= utility(doc, truthful, oid)
