"""Incentive properties on random generated ``amm`` slots (state-dependent bids).

An arbitrage's truthful bid reports its whole profit (share_bps = 10000): then
b_i = v_i. A misreport shares less (or more) of the profit; its utility is the
profit at its place in the final block, minus what it pays, plus its refund.
Large groups appear at every k_cutoff tried (the generator's busy pools).
"""

from __future__ import annotations

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_incentives import check_accounting

from mevauction.intake.scenario import parse_scenario
from mevauction.intake.workloads.amm import generate
from property_settings import examples

SETTINGS = settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def with_share(doc, oid, share):
    out = copy.deepcopy(doc)
    for o in out["orders"]:
        if o["id"] == oid:
            o["share_bps"] = share
    return out


def arbitrage_utility(truth_doc, report, oid):
    """Profit of ``oid`` at its place in the final block, minus its bid, plus refund."""
    s = report.searchers[oid]
    if oid not in report.block:
        return s.refund
    world = parse_scenario(truth_doc).world
    prefix = report.block[: report.block.index(oid) + 1]
    profit = world.evaluate(prefix).bids.get(oid, 0)
    return profit - s.bid + s.refund


@SETTINGS
@given(st.integers(0, 10_000), st.integers(20, 80), st.sampled_from([3, 5, 8]))
def test_accounting_on_amm_slots(seed, n, k_cutoff):
    doc = generate(n, seed, builders=[{"id": "B1", "algorithm": "default", "bid": "truthful"}])
    check_accounting(parse_scenario(doc).run_auction(k_cutoff=k_cutoff))


@SETTINGS
@given(st.integers(0, 10_000), st.integers(20, 60), st.sampled_from([3, 5, 8]), st.data())
def test_no_profitable_share_misreport(seed, n, k_cutoff, data):
    doc = generate(n, seed)
    arbs = [o["id"] for o in doc["orders"] if o.get("kind") == "arbitrage"]
    if not arbs:
        return
    # Prefer an arbitrage the truthful block includes: that is where a lie can pay.
    full = {o: with_share(doc, o, 10_000) for o in arbs}
    included = [o for o in arbs if o in parse_scenario(full[o]).run_auction(k_cutoff=k_cutoff).block]
    oid = data.draw(st.sampled_from(included or arbs))
    truth = full[oid]
    honest = parse_scenario(truth).run_auction(k_cutoff=k_cutoff)
    u_true = arbitrage_utility(truth, honest, oid)
    assert u_true >= 0  # individual rationality
    lie_share = data.draw(st.sampled_from([0, 2_500, 8_000, 9_000, 9_900, 9_999]))
    lie = parse_scenario(with_share(doc, oid, lie_share)).run_auction(k_cutoff=k_cutoff)
    assert arbitrage_utility(truth, lie, oid) <= u_true
