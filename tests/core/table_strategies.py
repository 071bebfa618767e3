"""Hypothesis strategies for random ``table`` scenarios, and an independent oracle.

The oracle recomputes bids from the raw scenario (not through TableWorld) and
searches all orderings of all subsets of M \\ S by brute force.
"""

from __future__ import annotations

import itertools

from hypothesis import strategies as st

KEYS = ["k1", "k2", "k3", "k4", "k5"]


@st.composite
def table_scenarios(draw, min_orders=2, max_orders=6, shared_tx=True, builders=True, gas=False):
    n = draw(st.integers(min_orders, max_orders))
    ids = [f"o{i}" for i in range(n)]
    victim = "0xv1"
    orders = []
    for oid in ids:
        reads = draw(st.lists(st.sampled_from(KEYS), max_size=2, unique=True))
        writes = draw(st.lists(st.sampled_from(KEYS), max_size=2, unique=True))
        txs = ["0x" + oid]
        if shared_tx and draw(st.integers(0, 2)) == 0:
            txs.append(victim)
        others = [x for x in ids if x != oid]
        after = {}
        for _ in range(draw(st.integers(0, 4))):
            seq = draw(st.lists(st.sampled_from(others), min_size=1, max_size=2, unique=True)) if others else []
            if seq:
                after[",".join(seq)] = draw(st.integers(0, 200))
        orders.append({"id": oid, "reads": reads, "writes": writes, "txs": txs,
                       "bid": {"default": draw(st.integers(0, 120)), "after": after}})
        if gas:  # a tight block: some blocks of the family no longer fit
            orders[-1]["gas"] = 100_000 * draw(st.integers(1, 6))
    scenario = {"format": "mevauction.scenario/1", "world": {"kind": "table"}, "orders": orders,
                "seed": draw(st.integers(0, 3))}
    if gas:
        scenario["block_gas_limit"] = 100_000 * draw(st.integers(3, 15))
    if builders:
        subs = []
        for b in range(draw(st.integers(0, 3))):
            block = draw(st.lists(st.sampled_from(ids), max_size=n))
            bid = draw(st.one_of(st.just("truthful"), st.integers(0, 400)))
            subs.append({"id": f"B{b}", "block": block, "bid": bid})
        scenario["builders"] = subs
    return scenario


def conflict(a: dict, b: dict) -> bool:
    ra, wa, rb, wb = set(a["reads"]), set(a["writes"]), set(b["reads"]), set(b["writes"])
    return bool(wa & (rb | wb) or wb & ra)


def oracle_bids(scenario: dict, block: list[str]) -> dict[str, int]:
    by_id = {o["id"]: o for o in scenario["orders"]}
    out = {}
    for pos, oid in enumerate(block):
        me = by_id[oid]
        key = ",".join(p for p in block[:pos] if conflict(me, by_id[p]))
        out[oid] = me["bid"]["after"].get(key, me["bid"]["default"])
    return out


def oracle_conflict_free(scenario: dict) -> set[str]:
    orders = scenario["orders"]
    free = set()
    for a in orders:
        if not any(a is not b and (conflict(a, b) or set(a["txs"]) & set(b["txs"])) for b in orders):
            free.add(a["id"])
    return free


def all_blocks(scenario: dict, ids: list[str]):
    txs = {o["id"]: set(o["txs"]) for o in scenario["orders"]}
    for k in range(len(ids) + 1):
        for perm in itertools.permutations(ids, k):
            seen: set[str] = set()
            ok = True
            for oid in perm:
                if txs[oid] & seen:
                    ok = False
                    break
                seen |= txs[oid]
            if ok:
                yield list(perm)


def oracle_vcg(scenario: dict):
    """β0 and every refund r_i by brute force over all blocks of M \\ S."""
    free = oracle_conflict_free(scenario)
    rest = [o["id"] for o in scenario["orders"] if o["id"] not in free]
    best = 0
    without = {i: 0 for i in rest}
    for block in all_blocks(scenario, rest):
        bids = oracle_bids(scenario, block)
        total = sum(bids.values())
        best = max(best, total)
        for i in rest:
            without[i] = max(without[i], total - bids.get(i, 0))
    return best, {i: best - without[i] for i in rest}, free, rest
