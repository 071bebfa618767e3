"""Settlement's fault isolation and gas rule, and the intake bounds, without a server:
screening and gas admission (a property: no candidate block exceeds the block gas limit),
bisection to the order that breaks an auction, the JSON depth and order-shape checks, and
a cancel whose write fails."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mevauction.errors import InputError
from mevauction.service import dao, settle
from mevauction.service.bounds import MAX_JSON_DEPTH, check_order_shape, too_deep
from mevauction.service.config import ServiceConfig
from mevauction.service.engine import Auctioneer, now_ms
from mevauction.service.intake import parse_order
from mevauction.service.metrics import Metrics
from mevauction.service.store import StorageError, Store

TABLE = {"kind": "table"}


@st.composite
def slots(draw):
    """Table-world orders over a few keys with declared gas, a gas limit, and builders
    that submit explicit blocks (any ids) or run the default algorithm."""
    n = draw(st.integers(1, 7))
    gas_limit = draw(st.integers(21_000, 200_000))
    orders = []
    for i in range(n):
        keys = draw(st.lists(st.sampled_from(["a", "b", "c", f"own{i}"]), min_size=1, max_size=2, unique=True))
        orders.append({"id": f"o{i}", "reads": keys, "writes": keys, "bid": draw(st.integers(0, 100)),
                       "gas": draw(st.integers(1, gas_limit))})
    ids = [o["id"] for o in orders]
    builders = {}
    for j in range(draw(st.integers(0, 2))):
        if draw(st.booleans()):
            builders[f"B{j}"] = {"algorithm": "default", "bid": draw(st.integers(0, 300))}
        else:
            builders[f"B{j}"] = {"block": draw(st.permutations(ids)), "bid": draw(st.integers(0, 300))}
    return orders, builders, gas_limit


@given(slots())
def test_no_candidate_block_exceeds_the_block_gas_limit(slot):
    orders, builders, gas_limit = slot
    admitted, refused, over = settle.screen(orders, gas_limit)
    assert not refused and set(over) | {o["id"] for o in admitted} == {o["id"] for o in orders}
    assert all("block gas limit" in reason for reason in over.values())
    report = settle.run_scenario(settle.build_scenario(TABLE, admitted, builders, gas_limit), k_cutoff=8)
    assert "error" not in report
    gas = {o["id"]: o["gas"] for o in orders}
    included_s = [i for i in report["conflict_free"] if i in report["block"]]
    blocks = [report["block"], [*report["default"]["block"], *included_s]]
    blocks += [[*b["block"], *included_s] for b in report["builders"] if b["valid"]]
    for block in blocks:
        assert sum(gas[i] for i in block) <= gas_limit


def test_admission_takes_the_smallest_orders_first_so_one_large_order_cannot_crowd_out_the_rest():
    orders = [{"id": "whale", "gas": 30_000_000}, *({"id": f"o{i}", "gas": 21_000} for i in range(5))]
    assert settle.admit_within_gas(orders, 30_000_000) == {f"o{i}" for i in range(5)}
    assert settle.admit_within_gas(orders[:1], 30_000_000) == {"whale"}


def test_screen_refuses_rows_that_break_storage_or_the_worker():
    deep: dict = {}
    for _ in range(600):
        deep = {"x": deep}
    orders = [{"id": "ok", "bid": 1}, {"id": "overflow", "bid": 1, "gas": 2**64 - 1},
              {"id": "deep", "bid": 1, "junk": deep}, {"id": "huge", "bid": 1, "junk": 10**4000}]
    admitted, refused, over = settle.screen(orders, 30_000_000)
    assert [o["id"] for o in admitted] == ["ok"] and not over
    assert set(refused) == {"overflow", "deep", "huge"}
    assert "order.gas" in refused["overflow"] and "nested too deep" in refused["deep"]


def run_failing_with(culprits: set[str], calls: list):
    async def run(scenario: dict) -> dict:
        calls.append([o["id"] for o in scenario["orders"]])
        bad = culprits & {o["id"] for o in scenario["orders"]}
        if bad:
            raise RecursionError(f"maximum recursion depth exceeded ({sorted(bad)[0]})")
        return {"block": [o["id"] for o in scenario["orders"]]}
    return run


def test_bisection_leaves_out_only_the_orders_that_break_the_auction():
    scenario = settle.build_scenario(TABLE, [{"id": f"o{i}"} for i in range(16)], {}, 30_000_000)
    calls: list = []
    report, final, broke = asyncio.run(settle.isolated_report(scenario, run_failing_with({"o5", "o11"}, calls)))
    assert set(broke) == {"o5", "o11"} and "RecursionError" in broke["o5"]
    assert report["block"] == [f"o{i}" for i in range(16) if i not in (5, 11)]
    assert [o["id"] for o in final["orders"]] == report["block"]
    assert len(calls) <= 2 * (4 + 1) + 1  # log2(16) runs per culprit, not one per order


def test_a_slot_that_fails_without_a_culprit_is_failed_not_retried_forever():
    scenario = settle.build_scenario(TABLE, [{"id": f"o{i}"} for i in range(40)], {}, 30_000_000)
    calls: list = []

    async def always(scenario: dict) -> dict:
        calls.append(1)
        raise OSError("worker unavailable")
    report, _, broke = asyncio.run(settle.isolated_report(scenario, always))
    assert report["failed"] is True and "worker unavailable" in report["error"]
    assert len(broke) == settle.MAX_CULPRITS and len(calls) < 100


def test_a_failed_report_is_final_without_bisection():
    scenario = settle.build_scenario(TABLE, [{"id": "o1"}, {"id": "o2"}], {}, 30_000_000)
    calls: list = []

    async def committee_down(scenario: dict) -> dict:
        calls.append(1)
        return settle.failed_report("sealed: the committee failed after a restart")
    report, _, broke = asyncio.run(settle.isolated_report(scenario, committee_down))
    assert report["failed"] and not broke and len(calls) == 1


def test_json_depth_guard():
    shallow = {"jsonrpc": "2.0", "params": [{"txs": ["0x00"]}]}
    assert not too_deep(b"{}", shallow)
    deep: list = []
    for _ in range(MAX_JSON_DEPTH):
        deep = [deep]
    assert too_deep(b"[" * (MAX_JSON_DEPTH + 1), deep)
    assert not too_deep(b"[" * MAX_JSON_DEPTH, deep[0])


def test_order_shape_names_the_field():
    with pytest.raises(InputError) as caught:
        check_order_shape({"id": "x", "junk": {"inner": ["a" * 2000]}}, "order")
    assert caught.value.field == "order.junk.inner[0]"
    with pytest.raises(InputError) as caught:
        check_order_shape({"id": "x", "n": -(2**256)}, "order")
    assert caught.value.field == "order.n"
    check_order_shape({"id": "x", "raw_txs": ["0x" + "00" * 10_000]}, "order")  # raw transactions may be long


def test_a_cancel_whose_write_fails_leaves_the_order_pending_in_memory_and_on_disk(tmp_path):
    url = f"sqlite:///{tmp_path / 'svc.db'}"

    async def scenario() -> None:
        store = Store(url)
        engine = Auctioneer(ServiceConfig(db=url, slot_seconds=600), store, Metrics())
        engine.load()
        item = parse_order([{"order": {"id": "o1", "bid": 5}, "replacementUuid": "u1"}], TABLE)
        await engine.submit(item, "0xsigner")
        write = store.write

        def failing(fn):
            future = asyncio.get_running_loop().create_future()
            future.set_exception(StorageError("disk full"))
            return future
        store.write = failing  # type: ignore[method-assign]
        with pytest.raises(StorageError):
            await engine.cancel("u1", "0xsigner", now_ms())
        store.write = write  # type: ignore[method-assign]
        assert [o["id"] for o in engine.pending_orders(None)] == ["o1"]
        assert [(o.id, o.status) for o in store.read_now(dao.unsettled_orders)] == [("o1", "pending")]
        assert engine.health.writes_failed == 1 and engine.health.degraded()
        assert await engine.cancel("u1", "0xsigner", now_ms()) == ["o1"]  # the retried cancel takes effect
        assert engine.pending_orders(None) == []
        store.close()
    asyncio.run(scenario())
