"""The slot generator: determinism, validity, realism and calibration (Boost+ paper § 5.2)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest

from mevauction.building.conflicts import conflict_groups
from mevauction.errors import InputError
from mevauction.intake.scenario import parse_scenario
from mevauction.intake.workloads.amm import generate
from mevauction.worlds.amm import from_scenario
from repo_paths import SRC


def group_sizes(doc):
    world = from_scenario(doc)
    return [len(g) for g in conflict_groups(list(world.orders), world.conflict_access)]


def test_same_seed_same_slot_other_seed_other_slot():
    assert json.dumps(generate(150, 7)) == json.dumps(generate(150, 7))
    assert generate(150, 7)["orders"] != generate(150, 8)["orders"]


def test_generated_slot_is_a_valid_scenario_that_round_trips():
    doc = json.loads(json.dumps(generate(120, 3, builders=[{"id": "B1", "algorithm": "default"}])))
    scenario = parse_scenario(doc)
    world = scenario.world
    assert len(world.orders) == 120 and [b.id for b in scenario.builders] == ["B1"]
    again = from_scenario({"world": world.to_json(), "orders": world.orders_json()})
    ids = list(world.orders)
    assert again.evaluate(ids) == world.evaluate(ids)


def test_slot_has_every_kind_and_competing_bundles_on_one_victim():
    world = from_scenario(generate(300, 2))
    kinds = Counter(o.kind for o in world.orders.values())
    assert set(kinds) == {"swap", "transfer", "arbitrage", "backrun", "sandwich"}
    victims = Counter(o.txs[0] if o.kind == "backrun" else o.txs[1]
                      for o in world.orders.values() if o.kind in ("backrun", "sandwich"))
    assert max(victims.values()) >= 2  # several searchers on the same victim
    arb_targets = Counter(o.target for o in world.orders.values() if o.kind == "arbitrage")
    assert max(arb_targets.values()) >= 2  # several searchers on the same dislocation


def test_bids_depend_on_state_in_generated_slots():
    """Some arbitrage pays a different amount behind another order of its group."""
    world = from_scenario(generate(200, 5))
    groups = conflict_groups(list(world.orders), world.conflict_access)
    differs = False
    for group in groups:
        arbs = [i for i in group if world.orders[i].kind == "arbitrage"]
        for arb in arbs:
            alone = world.evaluate([arb]).bids.get(arb, 0)
            differs |= any(world.evaluate([o, arb]).bids.get(arb, 0) != alone for o in group if o != arb)
    assert differs


def test_calibration_matches_the_published_shape():
    """Most groups are tiny; most slots have 1–3 groups of ≥ 8 orders, often exactly one."""
    large_per_slot, small, total = [], 0, 0
    for seed in range(12):
        sizes = group_sizes(generate(300, seed))
        large_per_slot.append(sum(1 for s in sizes if s >= 8))
        small += sum(1 for s in sizes if s <= 3)
        total += len(sizes)
    assert small / total >= 0.85
    assert sum(1 <= k <= 3 for k in large_per_slot) >= 9  # "in most blocks" (Fig. 5)
    assert sum(k == 1 for k in large_per_slot) >= 4
    assert max(large_per_slot) < 6


@pytest.mark.parametrize("args, field", [((0, 1), "orders"), ((10, "x"), "seed")])
def test_bad_generator_arguments(args, field):
    with pytest.raises(InputError) as info:
        generate(*args)
    assert info.value.field == field


def test_bad_builders_option_names_the_field():
    with pytest.raises(InputError) as info:
        generate(10, 1, builders=[{"id": "B1"}])
    assert info.value.field == "builders[0]"


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "mevauction", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=60, env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})


def test_cli_generates_a_file_and_prints_the_histogram(tmp_path):
    out = tmp_path / "slot.json"
    res = _cli("scenario", "generate", "--world", "amm", "--orders", "80", "--seed", "4", "-o", str(out),
               "--builder", "default", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "Conflict groups" in res.stdout and "group size" in res.stdout
    doc = json.loads(out.read_text())
    assert doc == generate(80, 4, builders=[{"id": "B1", "algorithm": "default", "bid": "truthful"}])
    sizes = group_sizes(doc)
    assert f"{len(sizes)} conflict groups" in res.stdout


@pytest.mark.parametrize("args, needle", [
    (["--orders", "0"], "error: --orders:"),
    (["--world", "table", "--orders", "5"], "error: --world:"),
])
def test_cli_bad_input_is_one_line(tmp_path, args, needle):
    res = _cli("scenario", "generate", *args, "-o", str(tmp_path / "x.json"), cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip().startswith(needle) and len(res.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_mainnet_profile_matches_seed_004_shape():
    """``--profile mainnet`` on the bench's first 150 block seeds of ``--seed 1``:
    largest group mostly ≤ 10 (Fig. 6), over half the blocks with exactly one group of
    ≥ 8 and most with fewer than four (Fig. 5), about two thirds conflict-free orders."""
    from mevauction.evaluation.harness import block_seed

    largest, one, under_four, free = [], 0, 0, []
    for index in range(150):
        sizes = group_sizes(generate(400, block_seed(1, index), profile="mainnet"))
        large = sum(1 for s in sizes if s >= 8)
        largest.append(max(sizes))
        one += large == 1
        under_four += large < 4
        free.append(sum(1 for s in sizes if s == 1) / 400)
    n = len(largest)
    assert sorted(largest)[n // 2] <= 10
    assert sum(x <= 10 for x in largest) > n / 2
    assert one > n / 2
    assert under_four == n
    assert 0.5 <= sorted(free)[n // 2] <= 0.8


def test_contested_profile_draws_no_whales():
    """The whale knob is off in ``contested``, so its slots stay those measured before."""
    from mevauction.intake.workloads.amm import PROFILES

    assert PROFILES["contested"].whale_chance == 0.0
    assert PROFILES["mainnet"].whale_chance > 0
