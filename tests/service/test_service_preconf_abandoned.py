"""Blocks the service never delivers still settle their commitments (issue 14).

Without ``--chain`` a slot whose records the storage refuses is given up after
``MAX_SETTLE_ATTEMPTS``: no block is delivered for it. mev-commit's oracle settles a
commitment only for the block's winner, and a provider that did not build the block never
opens its commitments, so no escrow is taken: here each commitment of such a block is
**void** — its escrow released to the bidder, no slash — with every flow in the ledger
and the outcome in the block's settlement report. Before, the block's commitments were
never settled: the bidder's escrow stayed held for ever.

And a database written before migration 9 (``preconf_delivered``) by a service killed
between a slot's report and its settlement owes a settlement no table records: on start
the service finds the reported block and settles it by the oracle's rule, once.
"""

import sqlite3
import time

import pytest
from service_harness import ServerProcess
from test_service_preconf import DEPOSIT, FUNDED, RESERVE_PER_GAS, preconf_env, settlement
from test_service_preconf_nochain import bid_for, open_block, positioned
from test_service_preconf_restart import kill_in_window, settled_once, stored, wait_for

from mevauction.client import Client
from mevauction.eth.keccak import keccak as keccak256

pytestmark = pytest.mark.slow  # starts service processes
SENDER = keccak256(b"abandoned slot sender")
AMOUNT = 21_000 * RESERVE_PER_GAS * 2


def refuse_slot(block: int) -> str:
    """A trigger refusing every write of ``block``'s slot records (the report and the
    record of its failure alike): the slot can only be given up."""
    return (f"CREATE TRIGGER refuse_slot BEFORE INSERT ON slots WHEN NEW.slot = {block} "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")


def test_a_slot_given_up_voids_its_commitments_and_releases_the_escrow(tmp_path):
    path = tmp_path / "svc.db"
    srv = ServerProcess(f"sqlite:///{path}", slot_seconds=1.0, env=preconf_env(), log=tmp_path / "svc.log").start()
    try:
        with Client(srv.url) as c:
            block = open_block(c)
            with sqlite3.connect(path, timeout=10) as db:
                db.execute(refuse_slot(block))
            kept = c.send_preconf_bid(positioned(block, SENDER, "0x" + "51" * 20, AMOUNT, None))
            never = c.send_preconf_bid(bid_for(block, "0x" + "52" * 32, AMOUNT))
            assert kept["status"] == never["status"] == "committed", (kept, never)
            assert c.call("preconf_getDeposit", [FUNDED.address])["escrowed"] == str(2 * AMOUNT)
            # given up after its attempts; later slots settle (nothing else is refused)
            wait_for(lambda: c.slot()["slot"] > block + 3, timeout=30)
            report = wait_for(lambda: settlement(c, block), timeout=15)
        assert stored(path, block)[0] is False, "the slot's report was never stored: no block was delivered"
        assert report["balanced"] is True
        outcomes = {o["bidKey"]: o for o in report["commitments"]}
        assert set(outcomes) == {kept["bidDigest"] + kept["bidSignature"], never["bidDigest"] + never["bidSignature"]}
        for o in outcomes.values():
            assert o["outcome"] == "void", o  # not slashed: the provider built no block
            assert o["stake_taken"] == "0" and o["bidder_refund"] == str(AMOUNT)
        unlocked = sorted(int(e["amount"]) for e in report["ledger"] if e["kind"] == "unlock")
        assert unlocked == [AMOUNT, AMOUNT] and len(report["ledger"]) == 2
        with Client(srv.url) as c:
            assert c.call("preconf_getDeposit", [FUNDED.address]) == {
                **c.call("preconf_getDeposit", [FUNDED.address]), "escrowed": "0", "available": str(DEPOSIT)}
    finally:
        srv.stop()
    # a restart settles nothing again and runs nothing of the given-up block
    srv = ServerProcess(f"sqlite:///{path}", slot_seconds=1.0, env=preconf_env(), log=tmp_path / "svc2.log").start()
    try:
        with Client(srv.url) as c:
            time.sleep(2.0)
            assert c.call("preconf_getSettlement", [block])["commitments"] == report["commitments"]
            assert c.call("preconf_getDeposit", [FUNDED.address])["available"] == str(DEPOSIT)
        assert stored(path, block)[1:] == (2, 2)
    finally:
        srv.stop()


def test_a_pre_migration_9_database_killed_after_the_report_settles_on_start(tmp_path):
    """The database a service from before migration 9 leaves when killed between the
    report and the settlement: the report is stored, no outcome is, and no table says a
    settlement is owed (made here from a current service killed in that window, then
    taken back to schema version 8 exactly: migration 9's table dropped, its version row
    deleted)."""
    path = tmp_path / "svc.db"

    def serve(name: str) -> ServerProcess:
        return ServerProcess(f"sqlite:///{path}", slot_seconds=1.5, env=preconf_env(),
                             log=tmp_path / f"{name}.log").start()
    block, kept, never = kill_in_window(serve, path, SENDER, 0x53)
    with sqlite3.connect(path, timeout=10) as db:
        db.execute("DROP TABLE preconf_delivered")
        db.execute("DELETE FROM schema_version WHERE version >= 9")
        assert [v for (v,) in db.execute("SELECT version FROM schema_version")] == list(range(1, 9))
    assert stored(path, block) == (True, 0, 0)

    srv = serve("second")
    try:
        with Client(srv.url) as c:
            report, deposit = settled_once(c, block, kept, never)
        rows = stored(path, block)
        assert rows == (True, 2, len(report["ledger"]))
    finally:
        srv.stop()
    srv = serve("third")  # once: a further start moves nothing
    try:
        with Client(srv.url) as c:
            time.sleep(1.5)
            assert c.call("preconf_getDeposit", [FUNDED.address]) == deposit
        assert stored(path, block) == rows
    finally:
        srv.stop()


def test_a_slot_run_late_after_a_restart_still_carries_its_commitments(tmp_path):
    """Killed before a slot's deadline, restarted after it (and after the desk would have
    let the block go from memory): the slot's orders are restored and it runs late; its
    committed transaction must be in that block (and paid), not left out and slashed."""
    from mevauction.client import Signer

    path = tmp_path / "svc.db"

    def serve(name: str) -> ServerProcess:
        return ServerProcess(f"sqlite:///{path}", slot_seconds=3.0, env=preconf_env(),
                             log=tmp_path / f"{name}.log").start()
    srv = serve("first")
    try:
        with Client(srv.url) as c, Client(srv.url, Signer.random()) as searcher:
            while (slot := c.slot())["slot"] < 1 or slot["deadline_ms"] / 1000 - time.time() < 2.0:
                time.sleep(0.05)
            block, deadline = slot["slot"], slot["deadline_ms"] / 1000
            kept = c.send_preconf_bid(positioned(block, SENDER, "0x" + "55" * 20, AMOUNT, None))
            assert kept["status"] == "committed", kept
            searcher.send_order({"id": "late", "reads": ["k"], "writes": ["k"], "bid": {"default": 5}}, block)
        srv.kill9()
        assert time.time() < deadline, "killed before the slot's deadline"
    finally:
        srv.stop()
    time.sleep(max(0.0, deadline + 6.0 - time.time()))
    srv = serve("second")
    try:
        with Client(srv.url) as c:
            report = wait_for(lambda: settlement(c, block))
            [o] = report["commitments"]
            assert o["outcome"] == "reward", o
            assert any(oid.startswith("preconf:") for oid in c.report(block)["block"])
    finally:
        srv.stop()
