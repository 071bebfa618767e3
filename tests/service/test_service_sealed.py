"""``mevauction serve --sealed``: builder bids opened by the service's one local MPC
committee at each deadline. Slots with builder bids settle to the same report as the
auction run in the clear on the same orders and bids; the committee's processes stay
the same from slot to slot, a killed committee is restarted for the next slot, and
nothing of it is left after the service stops."""

import os
import signal
import time

import httpx
import pytest
from service_harness import ServerProcess

from mevauction.client import Client, Signer
from mevauction.intake.scenario import parse_scenario
from mevauction.service.api import amounts_as_text
from mevauction.service.settle import build_scenario
from mevauction.settlement.report import ReportDocument

pytestmark = pytest.mark.slow  # every test starts a service process with an MPC committee

pytest.importorskip("mevauction.privacy.builder_auction")

ORDERS = [
    {"id": "o1", "reads": ["k1"], "writes": ["k1"], "bid": {"default": 40, "after": {"o2": 100}}},
    {"id": "o2", "reads": ["k1"], "writes": ["k1"], "bid": {"default": 50, "after": {"o1": 80}}},
    {"id": "o3", "reads": ["k2"], "writes": ["k2"], "bid": {"default": 20}},
    {"id": "o4", "reads": ["k2"], "writes": ["k2"], "bid": {"default": 25, "after": {"o3": 30}}},
]
COMPARED = ("winner", "block", "proposer", "searchers", "builders", "builder_settlement", "default")


def running(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def committee(server) -> dict:
    return httpx.get(server.url + "/healthz", timeout=10).json()["committee"]


def settle_one(server, bids: tuple[int, int]) -> tuple[dict, dict]:
    """Send the orders and three builder bids for the next slot; (report, clear report)."""
    builders = [Signer.random(), Signer.random(), Signer.random()]
    submissions = {builders[0].address: {"block": ["o2", "o1", "o3", "o4"], "bid": bids[0]},
                   builders[1].address: {"block": ["o2", "o1", "o4"], "bid": bids[1]},
                   builders[2].address: {"algorithm": "default", "bid": "truthful"}}
    with Client(server.url, Signer.random()) as searcher:
        slot = searcher.slot()["slot"] + 1
        for order in ORDERS:
            searcher.send_order(order, slot)
        for signer in builders:
            with Client(server.url, signer) as builder:
                sub = submissions[signer.address]
                builder.send_builder_bid(slot, bid=sub["bid"], algorithm=sub.get("algorithm"), block=sub.get("block"))
        report = searcher.wait_report(slot, timeout=120)
    scenario = parse_scenario(build_scenario({"kind": "table"}, ORDERS, submissions, 30_000_000))
    clear = amounts_as_text(ReportDocument.of(scenario.run_auction()).to_json())  # as /v1 sends it
    return report, clear


def assert_same(report: dict, clear: dict) -> None:
    assert "error" not in report, report.get("error")
    for key in COMPARED:
        assert report[key] == clear[key], key


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = tmp_path_factory.mktemp("sealed") / "svc.db"
    proc = ServerProcess(f"sqlite:///{db}", slot_seconds=3.0, extra=["--sealed"]).start()
    yield proc
    proc.stop()


def test_consecutive_slots_settle_like_the_clear_auction_on_one_committee(server):
    before = committee(server)
    assert before["alive"] and len(before["pids"]) == 3
    first, clear_first = settle_one(server, (230, 205))
    assert_same(first, clear_first)
    assert first["winner"] != "default"  # the committee picked a builder, as in the clear
    second, clear_second = settle_one(server, (150, 240))  # a different winner and price
    assert_same(second, clear_second)
    after = committee(server)
    assert after["pids"] == before["pids"] and after["restarts"] == 0  # the same processes served both


def test_a_killed_committee_is_restarted_for_the_next_slot(server):
    old = committee(server)
    os.killpg(old["pids"][1], signal.SIGKILL)  # server 1 dies between slots
    report, clear = settle_one(server, (230, 205))
    assert_same(report, clear)
    new = committee(server)
    assert new["alive"] and new["restarts"] == old["restarts"] + 1
    assert not set(new["pids"]) & set(old["pids"])
    give_up = time.monotonic() + 10
    while any(running(p) for p in old["pids"]) and time.monotonic() < give_up:
        time.sleep(0.1)
    assert not any(running(p) for p in old["pids"])  # the old committee's survivors were stopped


def test_no_committee_process_is_left_after_the_service_stops(tmp_path):
    proc = ServerProcess(f"sqlite:///{tmp_path / 'svc.db'}", slot_seconds=3.0, extra=["--sealed"]).start()
    try:
        pids = committee(proc)["pids"]
        assert len(pids) == 3 and all(running(p) for p in pids)
    finally:
        proc.stop()
    assert proc.proc.returncode is not None
    give_up = time.monotonic() + 10
    while any(running(p) for p in pids) and time.monotonic() < give_up:
        time.sleep(0.1)
    assert not any(running(p) for p in pids)
