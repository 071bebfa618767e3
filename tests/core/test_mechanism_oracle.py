"""The mechanism against an independent brute force on random small table slots."""

from hypothesis import HealthCheck, given, settings
from table_strategies import oracle_bids, oracle_vcg, table_scenarios

from mevauction.intake.scenario import parse_scenario
from property_settings import examples


def oracle_builders(scenario, beta0, free, rest):
    """Validity, bids, winner, price per Fig. 3 steps (3)–(4), recomputed by hand."""
    valid = []
    txs = {o["id"]: o["txs"] for o in scenario["orders"]}
    for sub in scenario.get("builders", []):
        block = sub["block"]
        ok = len(set(block)) == len(block) and all(b in rest for b in block)
        flat = [t for b in block for t in txs.get(b, [])]
        ok = ok and len(flat) == len(set(flat))
        if ok:
            value = sum(oracle_bids(scenario, block).values())
            valid.append((sub["id"], value if sub["bid"] == "truthful" else sub["bid"], block))
    top = max(valid, key=lambda v: v[1], default=None)
    if top is None or beta0 >= top[1]:
        return "default", None, beta0, 0
    winner = next(v for v in valid if v[1] == top[1])
    second = max((v[1] for v in valid if v[0] != winner[0]), default=0)
    price = max(beta0, second)
    return winner[0], winner[2], price, winner[1] - price


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table_scenarios())
def test_matches_brute_force(doc):
    report = parse_scenario(doc).run_auction()
    beta0, refunds, free, rest = oracle_vcg(doc)
    assert report.beta0 == beta0
    assert set(report.conflict_free) == free
    winner, block, price, builder_refund = oracle_builders(doc, beta0, free, rest)
    if winner != "default":  # case 4b: r_i capped at what i pays in the winner's block
        paid = oracle_bids(doc, block)
        refunds = {i: min(r, paid.get(i, 0)) for i, r in refunds.items()}
    for i in rest:
        assert report.searchers[i].refund == refunds[i], i
    assert report.winner == winner
    assert report.price == price
    if winner != "default":
        assert report.builder_settlement[winner].refund == builder_refund
    assert report.proposer == price - sum(refunds.values())
