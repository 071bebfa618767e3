"""``conflict_groups`` (one pass, positions' union-find) equals the plain rule: two
orders are in one group when they are connected by keys one of them writes and the
other reads or writes (Boost+ paper Alg. 1, ``GetConflictGroups``)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mevauction.building.conflicts import conflict_groups
from mevauction.worlds.base import Access
from property_settings import examples

KEYS = st.frozensets(st.sampled_from([f"k{i}" for i in range(12)]), max_size=4)


def plain_groups(order_ids, access):
    """Components of the pairwise conflict relation, by repeated merging; groups in
    order of first member, members in input order."""
    comps: list[set[str]] = []
    for oid in order_ids:
        joined = [c for c in comps if any(access(oid).conflicts_with(access(o)) for o in c)]
        merged = {oid}.union(*joined)
        comps = [c for c in comps if c not in joined] + [merged]
    groups = [[o for o in order_ids if o in c] for c in comps]
    return sorted(groups, key=lambda g: order_ids.index(g[0]))


@settings(max_examples=examples(400), deadline=None)
@given(st.lists(st.tuples(KEYS, KEYS), max_size=25))
def test_conflict_groups_equal_the_pairwise_rule(accesses):
    ids = [f"o{i}" for i in range(len(accesses))]
    table = {oid: Access(reads, writes) for oid, (reads, writes) in zip(ids, accesses)}
    assert conflict_groups(ids, table.__getitem__) == plain_groups(ids, table.__getitem__)


def test_readers_of_a_key_nobody_writes_do_not_conflict():
    table = {"a": Access(frozenset({"k"}), frozenset()), "b": Access(frozenset({"k"}), frozenset())}
    assert conflict_groups(["a", "b"], table.__getitem__) == [["a"], ["b"]]
    table["c"] = Access(frozenset(), frozenset({"k"}))
    assert conflict_groups(["a", "b", "c"], table.__getitem__) == [["a", "b", "c"]]
