"""A kill -9 between a block's report and its preconfirmation settlement (issue 14):
``mevauction serve`` without ``--chain`` stores a slot's report (the delivered block) and
then settles the slot's commitments against it. Killed in between, the restarted service
must settle them exactly once: no settlement lost (escrow held for ever, no slash), none
done twice (the bidder paid or the stake slashed again).

The service is held in that window by the storage itself: a trigger the test puts on
``preconf_outcomes`` refuses the settlement write (the report's write is untouched), so
the SIGKILL lands, deterministically, after the report is durable and before any outcome
is. The trigger is dropped before the restart.
"""

import sqlite3
import time

import pytest
from service_harness import ServerProcess
from test_service_preconf import DEPOSIT, FUNDED, RESERVE_PER_GAS, preconf_env, settlement
from test_service_preconf_nochain import bid_for, open_block, positioned

from mevauction.client import Client
from mevauction.eth.keccak import keccak as keccak256
from mevauction.preconf.decay import ONE_HUNDRED_PERCENT, residual

pytestmark = pytest.mark.slow  # starts service processes
SENDER = keccak256(b"restart kept sender")
HOLD = ("CREATE TRIGGER hold_settlement BEFORE INSERT ON preconf_outcomes "
        "BEGIN SELECT RAISE(ABORT, 'held by the test'); END")


def wait_for(fn, timeout: float = 30.0):
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        got = fn()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError("timed out")


def stored(path, block: int) -> tuple[bool, int, int]:
    """(report stored, outcome rows, ledger rows) of a block, read from the database file."""
    with sqlite3.connect(path, timeout=10) as db:
        report = db.execute("SELECT count(*) FROM slots WHERE slot = ?", (block,)).fetchone()[0]
        outcomes = db.execute("SELECT count(*) FROM preconf_outcomes WHERE block_number = ?", (block,)).fetchone()[0]
        ledger = db.execute("SELECT count(*) FROM preconf_ledger WHERE block_number = ?", (block,)).fetchone()[0]
    return bool(report), outcomes, ledger


def kill_in_window(serve, path, sender: bytes, fill: int) -> tuple[int, dict, dict]:
    """Start a service, commit a kept and a never-sent bid for the open block, and kill -9
    it after the block's report is stored and before its settlement is; (block, kept, never)."""
    srv = serve("first")
    amount = 21_000 * RESERVE_PER_GAS * 2
    try:
        with sqlite3.connect(path, timeout=10) as db:  # migrated by the service at start
            db.execute(HOLD)
        with Client(srv.url) as c:
            block = open_block(c)
            kept = c.send_preconf_bid(positioned(block, sender, "0x" + f"{fill:02x}" * 20, amount, None))
            never = c.send_preconf_bid(bid_for(block, "0x" + f"{fill + 1:02x}" * 32, amount))
            assert kept["status"] == never["status"] == "committed", (kept, never)
            # the report is durable, the settlement is not: the window
            wait_for(lambda: stored(path, block)[0])
            time.sleep(0.5)  # the service has tried to settle (and been refused) by now
            assert settlement(c, block) is None
        srv.kill9()
        assert stored(path, block) == (True, 0, 0), "killed after the report and before the settlement"
    finally:
        srv.stop()
    with sqlite3.connect(path, timeout=10) as db:
        db.execute("DROP TRIGGER hold_settlement")
    return block, kept, never


def settled_once(c: Client, block: int, kept: dict, never: dict) -> tuple[dict, dict]:
    """The block's settlement once it is there: the kept bid rewarded at its decayed amount,
    the never-sent one slashed, escrow empty; (report, deposit)."""
    amount = 21_000 * RESERVE_PER_GAS * 2
    report = wait_for(lambda: settlement(c, block))
    assert report["balanced"] is True
    outcome = {o["bidKey"]: o for o in report["commitments"]}
    assert outcome[kept["bidDigest"] + kept["bidSignature"]]["outcome"] == "reward"
    slashed = outcome[never["bidDigest"] + never["bidSignature"]]
    assert slashed["outcome"] == "slash" and int(slashed["slash_to_bidder"]) == amount // 4
    m = kept["messages"][0]
    decayed = amount * residual(m["bid"]["decayStartTimeStamp"], m["bid"]["decayEndTimeStamp"],
                                m["dispatchTimestamp"]) // ONE_HUNDRED_PERCENT
    deposit = c.call("preconf_getDeposit", [FUNDED.address])
    assert deposit == {**deposit, "escrowed": "0", "available": str(DEPOSIT - decayed)}
    return report, deposit


def test_kill_between_report_and_settlement_settles_exactly_once(tmp_path):
    path = tmp_path / "svc.db"

    def serve(name: str) -> ServerProcess:
        return ServerProcess(f"sqlite:///{path}", slot_seconds=1.5, env=preconf_env(),
                             log=tmp_path / f"{name}.log").start()
    block, kept, never = kill_in_window(serve, path, SENDER, 0x41)
    srv = serve("second")
    try:
        with Client(srv.url) as c:
            report, deposit = settled_once(c, block, kept, never)
            time.sleep(2 * 1.5)  # later slots come and go: nothing is settled again
            assert c.call("preconf_getDeposit", [FUNDED.address]) == deposit
        rows = stored(path, block)
        assert rows == (True, 2, len(report["ledger"])), "each commitment settled once"
    finally:
        srv.kill9()  # and once more, after the settlement: nothing moves again
    srv = serve("third")
    try:
        with Client(srv.url) as c:
            again = c.call("preconf_getSettlement", [block])
            assert again["commitments"] == report["commitments"] and again["ledger"] == report["ledger"]
            time.sleep(1.5)
            assert c.call("preconf_getDeposit", [FUNDED.address]) == deposit
        assert stored(path, block) == rows
    finally:
        srv.stop()


def test_a_refused_settlement_write_is_retried_without_running_the_slot_again(tmp_path):
    """The same window without a kill: the settlement's write is refused (storage), the
    report stays as stored (the slot is not run again), and once the storage takes writes
    the next turn of the slot clock settles the block."""
    path = tmp_path / "svc.db"
    srv = ServerProcess(f"sqlite:///{path}", slot_seconds=1.0, env=preconf_env(), log=tmp_path / "svc.log").start()
    amount = 21_000 * RESERVE_PER_GAS * 2
    try:
        with sqlite3.connect(path, timeout=10) as db:
            db.execute(HOLD)
        with Client(srv.url) as c:
            while (slot := c.slot())["slot"] < 1 or slot["deadline_ms"] / 1000 - time.time() < 0.6:
                time.sleep(0.05)
            block = slot["slot"]
            never = c.send_preconf_bid(bid_for(block, "0x" + "43" * 32, amount))
            assert never["status"] == "committed", never
            wait_for(lambda: stored(path, block)[0])
            time.sleep(2.5)  # two more turns, each refused
            assert settlement(c, block) is None
            with sqlite3.connect(path, timeout=10) as db:
                [(settled_ms,)] = db.execute("SELECT settled_ms FROM slots WHERE slot = ?", (block,)).fetchall()
                db.execute("DROP TRIGGER hold_settlement")
            done = wait_for(lambda: settlement(c, block))
            assert [o["outcome"] for o in done["commitments"]] == ["slash"]
            with sqlite3.connect(path, timeout=10) as db:
                assert db.execute("SELECT settled_ms FROM slots WHERE slot = ?", (block,)).fetchall() == \
                    [(settled_ms,)], "the slot's report was stored once and kept"
            assert c.call("preconf_getDeposit", [FUNDED.address])["escrowed"] == "0"
    finally:
        srv.stop()
