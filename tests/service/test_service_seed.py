"""The default algorithm's seed is secret per slot: committed before the deadline,
revealed after, and the default block re-runs from the revealed seed (issue 15 (b)).

Before the fix the service never set a seed: every slot ran with seed 0, known to all,
so a searcher could rename its bundle until ``Select``'s hash ranked it where it wanted.
"""

import pytest
from service_harness import ServerProcess

from mevauction.building.default import DefaultBuilder
from mevauction.client import Client, Signer
from mevauction.intake.scenario import parse_scenario
from mevauction.mechanism.seed import seed_matches
from mevauction.service.seeds import SlotSeeds

ORDERS = [{"id": f"o{i}", "reads": ["k"], "writes": ["k"], "bid": {"default": 10 + i, "after": {"o0": 50 - i}}}
          for i in range(9)]  # one group of 9 ≥ k_cutoff: Select and the seeded families decide


@pytest.mark.slow  # starts a service process
def test_the_seed_is_committed_before_the_deadline_and_revealed_after(tmp_path):
    server = ServerProcess(f"sqlite:///{tmp_path / 'svc.db'}", slot_seconds=2.0).start()
    try:
        with Client(server.url, Signer.random()) as c:
            info = c.slot()
            slot, commitment = info["slot"] + 1, None
            while commitment is None:  # the next slot's commitment, read while it is open
                now = c.slot()
                if now["slot"] == slot:
                    commitment = now["seed_commitment"]
            for order in ORDERS:
                c.send_order(order, slot)
            report = c.wait_report(slot, timeout=30)
    finally:
        server.stop()
    seed = int(report["seed"]["value"])
    assert report["seed"]["commitment"] == commitment
    assert seed_matches(slot, seed, commitment)
    assert seed != 0
    # Anyone with the slot's orders re-runs the default algorithm with the revealed seed.
    doc = {"format": "mevauction.scenario/1", "world": {"kind": "table"}, "orders": ORDERS, "seed": seed}
    world = parse_scenario(doc).world
    rerun = DefaultBuilder(seed=seed, block_gas_limit=30_000_000).build(world, list(world.orders))
    assert list(rerun.orders) == report["default"]["block"]


def test_seeds_are_fresh_per_slot_secret_and_survive_a_restart(tmp_path):
    db = f"sqlite:///{tmp_path / 'svc.db'}"
    seeds = SlotSeeds(db)
    values = {seeds.seed(s) for s in range(50)}
    assert len(values) == 50 and 0 not in values
    assert SlotSeeds(db).seed(7) == seeds.seed(7)  # the same secret after a restart
    assert SlotSeeds(f"sqlite:///{tmp_path / 'other.db'}").seed(7) != seeds.seed(7)
    assert (tmp_path / "svc.db.seed").stat().st_mode & 0o077 == 0
    assert seed_matches(7, seeds.seed(7), seeds.commitment(7))
    assert not seed_matches(7, seeds.seed(7) + 1, seeds.commitment(7))
