"""``mevauction serve --sealed``: builder bids sealed by the builders (SDK) and opened by
the service's one local MPC committee at each deadline. Slots with builder bids settle to
the report of the auction run in the clear on the same orders and bids, except that no
bid is revealed but the price (``as_sealed``: the documented deviation); the committee's
processes stay the same from slot to slot, a killed committee is restarted for the next
slot with the same keys, and nothing of it is left after the service stops. The same on
the two-party backend (``--backend 2pc``: a garbler and an evaluator), where a party
killed or stopped gets the pair restarted and the slot still settles."""

import os
import signal
import time

import httpx
import pytest
from committee_procs import committee_servers, pair_parties
from service_harness import ServerProcess

from committee_wire import SEALED_ORDERS
from mevauction.client import Client, Signer
from mevauction.intake.scenario import parse_scenario
from mevauction.service.api import amounts_as_text
from mevauction.service.settle import build_scenario
from mevauction.service.views import public_report
from mevauction.settlement.report import ReportDocument
from pair_procs import running_pair

pytestmark = pytest.mark.slow  # every test starts a service process with an MPC committee

pytest.importorskip("mevauction.privacy.builder_auction")

ORDERS = SEALED_ORDERS
COMPARED = ("winner", "price", "block", "proposer", "searchers", "builders", "builder_settlement", "default")
BUILDERS = [Signer.random(), Signer.random(), Signer.random()]  # registered with the service
REGISTRY = [arg for b in BUILDERS for arg in ("--builder", f"{b.address}={10**18}")]


def running(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def committee(server) -> dict:
    """/healthz's committee entry (up, restarts) and the servers' (or parties') pids, found in /proc."""
    health = httpx.get(server.url + "/healthz", timeout=10).json()["committee"]
    found = pair_parties(server) if getattr(server, "backend", "mpc") == "2pc" else committee_servers(server)
    return {**health, "pids": [pid for pid, _ in found]}


SIZE = {"mpc": 3, "2pc": 2}


def as_sealed(clear: dict) -> dict:
    """What the sealed service reports for a clear report: no builder's bid but the winner's,
    which is the price it pays; the winner pays price + Σ_S and gets no surplus back."""
    out = {**clear, "builders": [{**b, "bid": clear["price"] if b["id"] == clear["winner"] else 0}
                                 for b in clear["builders"]]}
    settlement = dict(clear["builder_settlement"])
    if clear["winner"] in settlement:
        owed = settlement[clear["winner"]]
        settlement[clear["winner"]] = {"paid": owed["paid"] - owed["refund"], "refund": 0}
    return {**out, "builder_settlement": settlement}


def settle_one(server, bids: tuple[int, int]) -> tuple[dict, dict]:
    """Send the orders and three builder bids for the next slot; (report, clear report)."""
    builders = BUILDERS
    submissions = {builders[0].address: {"block": ["o2", "o1", "o3", "o4"], "bid": bids[0]},
                   builders[1].address: {"block": ["o2", "o1", "o4"], "bid": bids[1]},
                   builders[2].address: {"algorithm": "default", "bid": 130}}
    with Client(server.url, Signer.random()) as searcher:
        slot = searcher.slot()["slot"] + 1
        for order in ORDERS:
            searcher.send_order(order, slot)
        for signer in builders:
            with Client(server.url, signer) as builder:
                sub = submissions[signer.address]
                builder.send_sealed_builder_bid(slot, sub["bid"], algorithm=sub.get("algorithm"),
                                                block=sub.get("block"))
        report = searcher.wait_report(slot, timeout=120)
    scenario = parse_scenario(build_scenario({"kind": "table"}, ORDERS, submissions, 30_000_000))
    clear = as_sealed(ReportDocument.of(scenario.run_auction()).to_json())
    return report, clear


def assert_same(report: dict, clear: dict) -> None:
    """The served report is the clear auction's, as published (excluded orders left out)."""
    assert "error" not in report, report.get("error")
    published = amounts_as_text(public_report(clear))  # as /v1 sends it
    for key in COMPARED:
        assert report[key] == published[key], key


def sealed_server(db, backend: str) -> ServerProcess:
    proc = ServerProcess(db, slot_seconds=3.0, extra=["--sealed", "--backend", backend, *REGISTRY])
    proc.backend = backend
    return proc.start()


@pytest.fixture(scope="module", params=["mpc", "2pc"])
def server(tmp_path_factory, request):
    db = tmp_path_factory.mktemp(f"sealed-{request.param}") / "svc.db"
    proc = sealed_server(f"sqlite:///{db}", request.param)
    yield proc
    proc.stop()


def test_consecutive_slots_settle_like_the_clear_auction_on_one_committee(server):
    before = committee(server)
    assert before["alive"] and len(before["pids"]) == SIZE[server.backend]
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


@pytest.mark.parametrize("backend", ["mpc", "2pc"])
def test_no_committee_process_is_left_after_the_service_stops(tmp_path, backend):
    proc = sealed_server(f"sqlite:///{tmp_path / 'svc.db'}", backend)
    try:
        pids = committee(proc)["pids"]
        assert len(pids) == SIZE[backend] and all(running(p) for p in pids)
    finally:
        proc.stop()
    assert proc.proc.returncode is not None
    give_up = time.monotonic() + 10
    while any(running(p) for p in pids) and time.monotonic() < give_up:
        time.sleep(0.1)
    assert not any(running(p) for p in pids)


@pytest.mark.parametrize("backend", ["mpc", "2pc"])
def test_sealed_bids_stored_before_a_restart_settle_after_it(tmp_path, backend):
    """The servers (parties) keep their encryption keys beside the database and the slot's
    auction id is fixed, so envelopes sealed before the service stopped still open after it restarts."""
    db = f"sqlite:///{tmp_path / 'svc.db'}"
    winner, second = BUILDERS[0], BUILDERS[1]
    first = sealed_server(db, backend)
    try:
        with Client(first.url, Signer.random()) as searcher:
            slot = searcher.slot()["slot"] + 3
            for order in ORDERS:
                searcher.send_order(order, slot)
            keys = searcher.committee(slot)["members"]
        for signer, amount in ((winner, 230), (second, 205)):
            with Client(first.url, signer) as b:
                b.send_sealed_builder_bid(slot, amount, block=["o2", "o1", "o3", "o4"], pinned_keys=keys)
    finally:
        first.stop()
    again = sealed_server(db, backend)
    try:
        with Client(again.url) as reader:
            assert reader.committee(reader.slot()["slot"])["members"] == keys  # the same keys
            report = reader.wait_report(slot, timeout=120)
    finally:
        again.stop()
    assert "error" not in report, report
    assert report["winner"] == winner.address and int(report["price"]) == 205


def test_a_stopped_party_does_not_stall_the_slot(tmp_path):
    """A party that hangs (SIGSTOP: its ports still take connections) costs the slot one
    bounded wait (relay.TIMEOUT_S); the pair is restarted and the slot settles as in the clear."""
    proc = sealed_server(f"sqlite:///{tmp_path / 'svc.db'}", "2pc")
    try:
        old = committee(proc)
        os.kill(old["pids"][1], signal.SIGSTOP)  # the evaluator hangs before the deadline
        t0 = time.monotonic()
        report, clear = settle_one(proc, (230, 205))
        assert time.monotonic() - t0 < 60
        assert_same(report, clear)
        new = committee(proc)
        assert new["alive"] and new["restarts"] == old["restarts"] + 1 and not set(new["pids"]) & set(old["pids"])
    finally:
        proc.stop()


def test_a_remote_pair_settles_like_the_clear_auction_and_a_dead_party_fails_one_slot_only(tmp_path):
    """``--parties-file``: the service runs on a pair it did not start. With one party
    killed it cannot restart it: the slot is settled to an error report naming the failure
    (after one re-check, bounded in time) — never a stall, never the clear auction."""
    with running_pair(tmp_path) as (path, _, procs, _ports):
        proc = ServerProcess(f"sqlite:///{tmp_path / 'svc.db'}", slot_seconds=3.0,
                             extra=["--sealed", "--backend", "2pc", "--parties-file", str(path), *REGISTRY])
        proc.backend = "2pc"
        proc.start()
        try:
            assert pair_parties(proc) == []  # none of its own
            report, clear = settle_one(proc, (230, 205))
            assert_same(report, clear)
            procs[0].kill()  # the evaluator dies
            procs[0].wait()
            t0 = time.monotonic()
            failed, _ = settle_one(proc, (150, 240))
            assert time.monotonic() - t0 < 60
            assert failed.get("failed") is True and "committee failed" in failed["error"], failed
        finally:
            proc.stop()
