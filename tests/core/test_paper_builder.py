"""``paper``: Alg. 1 as written — the same as ``default`` below k_cutoff, and on a large
group only the Select'd orders (or a special case); ``default`` searches a superset."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from table_strategies import table_scenarios

from mevauction.building.conflicts import conflict_groups
from mevauction.building.default import DefaultBuilder
from mevauction.building.large import select
from mevauction.building.paper import PaperBuilder
from mevauction.building.registry import make_builder
from mevauction.intake.scenario import parse_scenario
from property_settings import examples


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table_scenarios(min_orders=3, max_orders=9, builders=False), st.sampled_from([3, 4, 8]))
def test_paper_is_alg_1_and_never_beats_default(doc, k):
    world = parse_scenario(doc).world
    ids = list(world.orders)
    paper = PaperBuilder(k, doc["seed"]).solve(world, ids)
    default = DefaultBuilder(k, doc["seed"]).solve(world, ids)
    assert paper.value <= default.value  # default's family contains the paper's
    for group in conflict_groups(ids, world.conflict_access):
        inside = [o for o in paper.block.orders if o in group]
        if len(group) < k:
            assert inside == [o for o in default.block.orders if o in group]
        elif len(inside) > 1 and not world.commutative(group):
            assert set(inside) <= set(select(group, k - 1, doc["seed"]))
    for oid in ids:
        assert 0 <= paper.refunds[oid] <= paper.block.bids.get(oid, 0)


def test_paper_is_a_named_builder():
    assert make_builder("paper", k_cutoff=5, seed=3).name == "paper"
