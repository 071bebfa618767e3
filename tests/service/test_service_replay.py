"""The replay guard, the tx-naming rule, scenario ids and the public report, in-process."""

import pytest

from mevauction.errors import InputError
from mevauction.service.engine import SlotState, scenario_id_for
from mevauction.service.intake import parse_order, parse_timestamp
from mevauction.service.replay import ReplayGuard
from mevauction.service.views import public_report


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def refused(fn, field: str) -> str:
    with pytest.raises(InputError) as info:
        fn()
    assert info.value.field == field, info.value
    return info.value.message


def test_a_request_counts_once_while_fresh_and_is_stale_after():
    clock = Clock(1_000.5)
    guard = ReplayGuard(30, clock)
    guard.admit("0xa", b"body", 1_000_000)  # signed in the start's second: fresh
    assert "already received" in refused(lambda: guard.admit("0xa", b"body", 1_000_000), "timestamp")
    guard.admit("0xb", b"body", 1_000_000)  # another signer's identical body is its own
    guard.admit("0xa", b"other", 1_000_000)
    clock.now = 1_031.0  # the window has passed: the requests are stale, and forgotten
    assert "not within" in refused(lambda: guard.admit("0xa", b"body", 1_000_000), "timestamp")
    assert len(guard.seen) == 0
    assert "not within" in refused(lambda: guard.admit("0xa", b"new", 1_062_000), "timestamp")  # the future
    clock.now = 1_001.0  # within the window, but signed before the guard's memory began
    assert "before the service started" in refused(lambda: guard.admit("0xa", b"x", 999_999), "timestamp")


@pytest.mark.parametrize("value", [None, True, "1700000000", float("nan"), -1, 0, 2**41])
def test_the_timestamp_is_a_unix_time_in_seconds(value):
    params = [{} if value is None else {"timestamp": value}]
    refused(lambda: parse_timestamp(params, "eth_cancelBundle"), "timestamp")


def test_timestamps_count_milliseconds():
    assert parse_timestamp([{"timestamp": 1_700_000_000.1234}], "mev_sendOrder") == 1_700_000_000_123


TABLE = {"kind": "table"}
HASH = "0x" + "ab" * 32


@pytest.mark.parametrize("order,field", [
    ({"id": "o", "txs": [HASH], "bid": 1}, "params[0].order.txs[0]"),
    ({"id": "o", "txs": ["mine", HASH.upper().replace("0X", "0x")], "bid": 1}, "params[0].order.txs[1]"),
    ({"id": "o", "txs": ["mine"], "revertingTxHashes": [HASH], "bid": 1}, "params[0].order.revertingTxHashes[0]"),
])
def test_a_table_order_names_no_transaction_hash(order, field):
    message = refused(lambda: parse_order([{"order": order}], TABLE), field)
    assert "does not carry" in message


def test_table_labels_stay_shared_names():
    assert parse_order([{"order": {"id": "o", "txs": ["contested"], "bid": 1}}], TABLE).id == "o"


def test_a_second_signers_id_gets_a_derived_scenario_id():
    state = SlotState(1)
    assert scenario_id_for(state, "o1", "0x" + "aa" * 20) == "o1"
    state.scenario_ids.add("o1")
    derived = scenario_id_for(state, "o1", "0x" + "bb" * 20)
    assert derived == "o1~bbbbbbbb"
    state.scenario_ids.add(derived)
    assert scenario_id_for(state, "o1", "0x" + "bb" * 20) == "o1~bbbbbbbb~2"


def test_the_public_report_leaves_out_excluded_orders_but_not_money_flows():
    report = {"block": ["a"], "searchers": {"a": {"bid": 5, "refund": 1}, "x": {"bid": 0, "refund": 0},
                                            "r": {"bid": 0, "refund": 2}},
              "conflict_free": ["a", "x"], "groups": [["a", "x"], ["a", "r"]],
              "default": {"block": ["x"], "value": 9},
              "transfers": [{"from": "a", "to": "proposer", "amount": 4}, {"from": "x", "to": "y", "amount": 0}]}
    public = public_report(report)
    assert set(public["searchers"]) == {"a", "r"}
    assert public["conflict_free"] == ["a"] and public["groups"] == [["a", "r"]]
    assert public["default"] == {"block": [], "value": 9}
    assert public["transfers"] == [{"from": "a", "to": "proposer", "amount": 4}]
    assert "x" not in str(public).replace("proposer", "")
    assert public_report({"error": "e"}) == {"error": "e"}
