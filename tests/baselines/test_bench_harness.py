"""``mevauction bench`` output: schema, determinism, and the default algorithm's
exactness on blocks without large groups (a random table-world workload)."""

from __future__ import annotations

import json

import pytest

from mevauction.cli import main
from mevauction.evaluation.harness import ALGORITHMS, BenchParams, run_blocks
from mevauction.evaluation.summary import MAX_GROUP_BUCKETS, summarize
from mevauction.intake.workloads import GENERATORS
from mevauction.worlds import WORLD_MODULES


@pytest.fixture
def bench_table(monkeypatch):
    monkeypatch.setitem(WORLD_MODULES, "bench-table", "bench_tableworld")
    monkeypatch.setitem(GENERATORS, "bench-table", "bench_tableworld")
    return "bench-table"


def strip_runtimes(doc: dict) -> dict:
    doc = json.loads(json.dumps(doc))
    for row in doc["blocks"]:
        row.pop("runtime_ms")
        row.pop("refunds_ms", None)
    for key in ("runtime_ms", "refunds_ms"):
        doc["summary"].pop(key, None)
    doc.pop("environment", None)  # the machine's load at the time: not a result
    return doc


def run_cli(tmp_path, world: str, *extra: str, name: str = "out.json") -> dict:
    out = tmp_path / name
    code = main(["bench", "--world", world, "--blocks", "6", "--orders", "24", "--seed", "3",
                 "--json", str(out), *extra])
    assert code == 0
    return json.loads(out.read_text())


@pytest.mark.slow  # > 1 s CPU (bench run and plots)
def test_bench_json_follows_the_spec(tmp_path, bench_table):
    doc = run_cli(tmp_path, bench_table, "--plots", str(tmp_path / "plots"))
    assert doc["format"] == "mevauction.bench/1"
    assert doc["params"] | {} == {"world": bench_table, "blocks": 6, "orders": 24, "seed": 3, "k_cutoff": 8,
                                  "profile": "mainnet", "repeat": 1, "algorithms": list(ALGORITHMS)}
    assert [r["index"] for r in doc["blocks"]] == list(range(6))
    for row in doc["blocks"]:
        assert row["orders"] == 24
        assert 1 <= row["groups"] <= 24 and 1 <= row["max_group"] <= 24
        assert row["large_groups"] <= row["groups"]
        assert set(row["value"]) == set(ALGORITHMS) == set(row["runtime_ms"])
        assert all(isinstance(v, int) and v >= 0 for v in row["value"].values())
        assert all(isinstance(t, float) for t in row["runtime_ms"].values())
        assert isinstance(row["refunds_ms"], float)
    s = doc["summary"]
    assert set(s["best_share"]) == set(ALGORITHMS)
    assert max(s["best_share"].values()) > 0
    assert set(s["runtime_ms"]) == {"median", "p99"}
    assert set(s["by_max_group"]) <= {label for label, _, _ in MAX_GROUP_BUCKETS}
    assert sum(b["blocks"] for b in s["by_max_group"].values()) == 6
    assert sum(t["blocks"] for t in s["by_value_tercile"].values()) == 6
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["runtime_cdf.png", "win_share_by_max_group.png"]


@pytest.mark.slow  # > 1 s CPU (two bench runs)
def test_same_seed_gives_the_same_numbers(tmp_path, bench_table):
    first = run_cli(tmp_path, bench_table, name="a.json")
    second = run_cli(tmp_path, bench_table, name="b.json")
    assert strip_runtimes(first) == strip_runtimes(second)
    other = main(["bench", "--world", bench_table, "--blocks", "6", "--orders", "24", "--seed", "4",
                  "--json", str(tmp_path / "c.json")])
    assert other == 0
    assert strip_runtimes(json.loads((tmp_path / "c.json").read_text()))["blocks"] != strip_runtimes(first)["blocks"]


@pytest.mark.slow  # > 1 s CPU
def test_default_is_best_whenever_every_group_is_below_k_cutoff(bench_table):
    params = BenchParams(bench_table, blocks=12, orders=30, seed=11, k_cutoff=8)
    rows = run_blocks(params)
    small = [r for r in rows if r["max_group"] < params.k_cutoff]
    assert small, "workload produced no block without large groups"
    for row in small:
        assert row["value"]["default"] == max(row["value"].values()), row


def test_ties_count_for_every_tied_algorithm():
    rows = [
        {"index": 0, "max_group": 2, "value": {"a": 5, "b": 5, "c": 4}, "runtime_ms": {"a": 1.0, "b": 1.0, "c": 1.0}},
        {"index": 1, "max_group": 9, "value": {"a": 10, "b": 8, "c": 0}, "runtime_ms": {"a": 1.0, "b": 3.0, "c": 2.0}},
    ]
    s = summarize(rows, ["a", "b", "c"])
    assert s["best_share"] == {"a": 1.0, "b": 0.5, "c": 0.0}
    assert s["median_gap_when_not_best"] == {"a": None, "b": 0.2, "c": 0.6}
    assert s["by_max_group"]["<=3"]["best_share"] == {"a": 1.0, "b": 1.0, "c": 0.0}
    assert s["by_max_group"]["8-10"]["best_share"] == {"a": 1.0, "b": 0.0, "c": 0.0}


@pytest.mark.parametrize("argv, field", [
    (["--blocks", "0", "--orders", "5"], "--blocks"),
    (["--blocks", "x", "--orders", "5"], "--blocks"),
    (["--blocks", "1", "--orders", "5", "--algorithms", "default,greedy"], "--algorithms"),
    (["--blocks", "1", "--orders", "5", "--world", "nope"], "--world"),
    (["--blocks", "1", "--orders", "5", "--workers", "0"], "--workers"),
])
def test_bad_options_give_one_line_errors(tmp_path, capsys, bench_table, argv, field):
    code = main(["bench", "--world", bench_table, *argv, "--json", str(tmp_path / "x.json")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith(f"error: {field}:") and "\n" not in err


def assert_same_numbers_as_serial(**spread_over):
    """Blocks spread over processes or a cluster give the serial numbers, runtimes aside."""
    params = BenchParams("amm", blocks=4, orders=30, seed=5)
    serial = run_blocks(params)
    spread = run_blocks(params, **spread_over)
    for a, b in zip(serial, spread, strict=True):
        a, b = dict(a), dict(b)
        for row in (a, b):
            row.pop("runtime_ms")
            row.pop("refunds_ms")
        assert a == b


@pytest.mark.slow  # starts worker processes
def test_workers_give_the_same_numbers_as_a_serial_run():
    assert_same_numbers_as_serial(workers=2)


@pytest.mark.slow  # starts a Ray cluster
def test_a_local_ray_cluster_gives_the_same_numbers_as_a_serial_run():
    """`--ray local` starts a Ray instance on this machine and spreads blocks over it."""
    pytest.importorskip("ray")
    assert_same_numbers_as_serial(ray_address="local")
