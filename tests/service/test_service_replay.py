"""The replay guard, the tx-naming rule, scenario ids and the public report, in-process."""

import pytest

from mevauction.errors import InputError
from mevauction.service.engine import SlotState, scenario_id_for
from mevauction.service.intake import LABEL, parse_order, parse_timestamp, renamed, unlabelled
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


def test_table_labels_live_in_their_own_namespace():
    """A label is never a real transaction's hash; shared labels still compete."""
    order = parse_order([{"order": {"id": "o", "txs": [HASH, "mine"], "revertingTxHashes": [HASH], "bid": 1}}],
                        TABLE).scenario_order
    assert order["txs"] == [LABEL + HASH, LABEL + "mine"] and order["revertingTxHashes"] == [LABEL + HASH]
    assert parse_order([{"order": {"id": "o", "bid": 1}}], TABLE).scenario_order["txs"] == [LABEL + "o"]
    assert unlabelled(order["txs"]) == [HASH, "mine"]
    # Under a derived id (a second signer's "o") the default label follows the id, so the
    # two orders share no transaction; explicit labels stay.
    assert renamed({"id": "o", "txs": [LABEL + "o"]}, "o~bb")["txs"] == [LABEL + "o~bb"]
    assert renamed({"id": "o", "txs": [LABEL + "x"]}, "o~bb")["txs"] == [LABEL + "x"]


def test_a_second_signers_id_gets_a_derived_scenario_id():
    state = SlotState(1)
    assert scenario_id_for(state, "o1", "0x" + "aa" * 20) == "o1"
    state.scenario_ids.add("o1")
    derived = scenario_id_for(state, "o1", "0x" + "bb" * 20)
    assert derived == "o1~bbbbbbbb"
    state.scenario_ids.add(derived)
    assert scenario_id_for(state, "o1", "0x" + "bb" * 20) == "o1~bbbbbbbb~2"


def test_the_public_report_leaves_out_excluded_orders_but_not_money_flows():
    report = {
        "winner": "default",
        "builders": [],
        "block": ["a"],
        "searchers": {"a": {"bid": 5, "refund": 1}, "x": {"bid": 0, "refund": 0}, "r": {"bid": 0, "refund": 2}},
        "conflict_free": ["a", "x"],
        "groups": [["a", "x"], ["a", "r"]],
        "default": {"block": ["x"], "value": 9},
        "transfers": [{"from": "a", "to": "proposer", "amount": 4}, {"from": "x", "to": "y", "amount": 0}],
    }
    public = public_report(report)
    assert set(public["searchers"]) == {"a", "r"}
    assert public["conflict_free"] == ["a"] and public["groups"] == [["a", "r"]]
    assert public["default"] == {"block": [], "value": 9}
    assert public["transfers"] == [{"from": "a", "to": "proposer", "amount": 4}]
    assert "x" not in str(public).replace("proposer", "")
    assert public_report({"error": "e"}) == {"error": "e"}
