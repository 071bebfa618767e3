"""Attacks on settlement: one request that stops or captures a slot, and bundle fields
that were accepted and then ignored. Each test runs against a real ``mevauction serve``.

The defended outcome, for every poison request: it is refused with an error naming the
field (or, if it was stored by an older version, excluded at settlement with a reason),
ordinary orders in the same and the next slots settle, also after a restart, and
``/healthz`` says ``degraded`` when a slot could not settle.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from service_harness import ServerProcess

from mevauction.client import Client, RpcError, Signer, signed_transfer

pytestmark = pytest.mark.slow  # every test starts a service process

GAS_LIMIT = 30_000_000


def tx(signer: Signer, nonce: int, tip: int = 10**9, gas: int = 21_000, chain_id: int | None = None) -> str:
    options = {} if chain_id is None else {"chain_id": chain_id}
    return signed_transfer(signer.private_key, nonce, "0x" + os.urandom(20).hex(), tip=tip, gas=gas, **options)


def order(oid: str, bid: object = 10, key: str | None = None, **extra: object) -> dict:
    keys = [key or f"k-{oid}"]
    return {"id": oid, "reads": keys, "writes": keys, "bid": bid, **extra}


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"x": value}
    return value


def refused(call, field: str, code: int = -32602) -> str:
    """The call is answered with a JSON-RPC error whose message names ``field``."""
    with pytest.raises(RpcError) as caught:
        call()
    assert caught.value.code == code, caught.value
    assert field in caught.value.message, caught.value.message
    return caught.value.message


def settles_ordinary(client: Client, slot: int) -> None:
    """An ordinary bundle and an ordinary order in ``slot`` are included when it settles."""
    signer = Signer.random()
    bundle = client.send_bundle([tx(signer, 0)], slot)
    oid = client.send_order(order(f"plain-{slot}-{os.urandom(4).hex()}"), slot)
    report = client.wait_report(slot, timeout=60)
    assert "error" not in report, report
    assert bundle in report["block"] and oid in report["block"], report


@pytest.fixture
def server(tmp_path):
    proc = ServerProcess(f"sqlite:///{tmp_path / 'svc.db'}", slot_seconds=1.0, log=tmp_path / "serve.log").start()
    yield proc
    proc.stop()


def test_each_poison_request_is_refused_and_later_slots_settle(server, tmp_path):
    signer = Signer.random()
    with Client(server.url, signer) as client:
        slot = client.slot()["slot"] + 5  # 1 s slots: room for the refusals on a loaded machine
        refused(lambda: client.send_bundle([tx(signer, 0, gas=2**64 - 1)], slot), "txs[0]")
        refused(lambda: client.send_bundle([tx(signer, 1, gas=GAS_LIMIT // 2), tx(signer, 2, gas=GAS_LIMIT // 2 + 1)],
                                           slot), "txs")
        refused(lambda: client.send_order(order("gas30", gas=10**30), slot), "order.gas")
        refused(lambda: client.send_order(order("gas-over", gas=GAS_LIMIT + 1), slot), "order.gas")
        refused(lambda: client.send_order(order("hexbid", bid="0x" + "f" * 4000), slot), "bid")
        refused(lambda: client.send_order(order("hexafter", bid={"default": 1, "after": {"x": "0x" + "f" * 4000}}),
                                          slot), "bid")
        refused(lambda: client.send_order(order("bignum", bid=1, junk=10**4000), slot), "junk")
        refused(lambda: client.send_order(order("longstr", bid=1, junk="a" * 100_000), slot), "junk")
        refused(lambda: client.send_order(order("longlist", bid=1, junk=[0] * 20_000), slot), "junk")
        refused(lambda: client.send_builder_bid(slot, bid="0x" + "f" * 4000, algorithm="default"), "bid")
        refused(lambda: client.send_order(order("deep", bid=1, junk=nested(600)), slot), "nested", code=-32600)
        refused(lambda: client.send_order(order("deep20", bid=1, junk=nested(20)), slot), "order.junk")
        # The depth guard runs before anything else, even on an unsigned request.
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_sendBundle", "params": [nested(600)]})
        answer = httpx.post(server.url + "/", content=body, headers={"content-type": "application/json"}).json()
        assert answer["error"]["code"] == -32600 and "nest" in answer["error"]["message"]
        settles_ordinary(client, slot)
        settles_ordinary(client, slot + 1)
    server.stop()
    server.start()
    with Client(server.url, Signer.random()) as client:
        settles_ordinary(client, client.slot()["slot"] + 1)


def _meta_slot(db: Path, ahead_seconds: float) -> int:
    """The slot open ``ahead_seconds`` from now, by the clock stored in the database."""
    conn = sqlite3.connect(db)
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    conn.close()
    return int((time.time() + ahead_seconds - float(meta["genesis"])) // float(meta["slot_seconds"]))


def _stored_poison(db: Path, slot: int, oid: str, scenario_order: dict, seq: int) -> None:
    """A row an older version stored before intake had bounds (the attack of today)."""
    conn = sqlite3.connect(db)
    conn.execute(
        "INSERT INTO orders (slot, scenario_id, id, seq, kind, signer, replacement_uuid, params, scenario_order,"
        " received_ms, status) VALUES (?, ?, ?, ?, 'order', '0xattacker', NULL, '{}', ?, ?, 'pending')",
        (slot, oid, oid, seq, json.dumps(scenario_order), int(time.time() * 1000)))
    conn.commit()
    conn.close()


def test_poison_stored_by_an_older_version_is_excluded_with_a_reason(tmp_path):
    db = tmp_path / "svc.db"
    server = ServerProcess(f"sqlite:///{db}", slot_seconds=1.0, log=tmp_path / "serve.log").start()
    try:
        server.stop()  # the first start wrote the slot clock
        slot = _meta_slot(db, 15.0)  # room for a slow restart
        _stored_poison(db, slot, "overflow", order("overflow", gas=2**64 - 1, bid=5), 10**6)
        _stored_poison(db, slot, "deep", order("deep", bid=5, junk=nested(600)), 10**6 + 1)
        server.start()
        with Client(server.url, Signer.random()) as client:
            good = client.send_order(order("good", bid=7), slot)
            report = client.wait_report(slot, timeout=60)
            assert good in report["block"], report
            for poison in ("overflow", "deep"):  # its signer's to read: here, from the database
                conn = sqlite3.connect(db, timeout=30)
                status, note = conn.execute("SELECT status, note FROM orders WHERE slot = ? AND id = ?",
                                            (slot, poison)).fetchone()
                conn.close()
                assert status == "excluded" and note, (poison, status, note)
            settles_ordinary(client, client.slot()["slot"] + 1)
        server.stop()
        server.start()  # still settled after a restart; later slots still settle
        with Client(server.url, Signer.random()) as client:
            assert good in client.report(slot)["block"]
            settles_ordinary(client, client.slot()["slot"] + 1)
    finally:
        server.stop()


def test_a_slot_that_cannot_be_stored_fails_with_a_reason_and_the_next_settles(tmp_path):
    db = tmp_path / "svc.db"
    server = ServerProcess(f"sqlite:///{db}", slot_seconds=1.0, log=tmp_path / "serve.log").start()
    try:
        with Client(server.url, Signer.random()) as client:
            assert httpx.get(server.url + "/healthz").json()["status"] == "ok"
            slot = client.slot()["slot"] + 3
            client.send_order(order("victim", bid=3), slot)
            # The storage refuses this slot's write (a row already holds its default block).
            conn = sqlite3.connect(db, timeout=30)
            conn.execute("INSERT INTO builder_blocks (slot, builder, block_hash, builder_pubkey, valid, gas_used,"
                         " num_tx, value, value_sort, timestamp_ms) VALUES (?, 'default', 'x', 'x', 1, 0, 0, '0',"
                         " '0', 0)", (slot,))
            conn.commit()
            conn.close()
            report = client.wait_report(slot, timeout=60)
            assert report.get("failed") is True and "storage" in report["error"], report
            victim = client.order_status(order_id="victim", block_number=slot)  # the signer's read
            assert victim["status"] == "excluded" and victim["note"]
            health = httpx.get(server.url + "/healthz")
            assert health.status_code == 200
            body = health.json()
            assert body["status"] == "degraded" and body["failures"]["slots_failed"] >= 1, body
            assert "pid" not in json.dumps(body["failures"])
            # A later slot settles (the next one may have closed meanwhile on a loaded machine).
            settles_ordinary(client, max(slot + 1, client.slot()["slot"] + 1))
        server.stop()
        server.start()
        with Client(server.url, Signer.random()) as client:
            assert client.report(slot).get("failed") is True  # a failed slot stays failed
            settles_ordinary(client, client.slot()["slot"] + 1)
    finally:
        server.stop()


def test_bundle_fields_are_honoured_or_refused(server):
    signer = Signer.random()
    with Client(server.url, signer) as client:
        slot = client.slot()["slot"] + 2
        refused(lambda: client.send_bundle([tx(signer, 0)], slot, max_timestamp=1), "maxTimestamp")
        refused(lambda: client.send_bundle([tx(signer, 1)], slot, min_timestamp=2**40), "minTimestamp")
        refused(lambda: client.send_bundle([tx(signer, 2, chain_id=5)], slot), "txs[0]")
        assert client.chain_id() == 31337
        for name, value in (("refundPercent", 10), ("refundRecipient", "0x" + "22" * 20), ("refundIndex", 0),
                            ("refundTxHashes", []), ("builders", ["flashbots"])):
            params = client.bundle_params([tx(signer, 3)], slot)
            params[0][name] = value
            refused(lambda p=params: client.call("eth_sendBundle", p), name)
        now = int(time.time())
        window = client.send_bundle([tx(signer, 4)], slot, min_timestamp=now - 60, max_timestamp=now + 600)
        report = client.wait_report(slot, timeout=60)
        assert window in report["block"]


def test_no_block_exceeds_the_gas_limit(server):
    with Client(server.url, Signer.random()) as client:
        slot = client.slot()["slot"] + 2
        big = [client.send_bundle([tx(Signer.random(), 0, gas=14_000_000)], slot) for _ in range(3)]
        report = client.wait_report(slot, timeout=60)
        delivered = client.payload_delivered(slot=slot)[0]
        assert int(delivered["gas_used"]) <= int(delivered["gas_limit"]) == GAS_LIMIT
        for block in client.builder_blocks_received(slot=slot):
            assert int(block["gas_used"]) <= GAS_LIMIT
        left_out = [b for b in big if b not in report["block"]]
        assert len(left_out) == 1
        assert "gas limit" in client.bundle_stats(left_out[0], slot)["note"]


def test_v1_amounts_are_decimal_strings(server):
    big = 2**60 + 1
    with Client(server.url, Signer.random()) as client:
        slot = client.slot()["slot"] + 2
        client.send_order(order("big-bid", bid=str(big)), slot)
        report = client.wait_report(slot, timeout=60)
        assert report["searchers"]["big-bid"] == {"bid": str(big), "refund": str(big)}
        assert isinstance(report["proposer"], str) and isinstance(report["price"], str)
        assert isinstance(report["default"]["value"], str)
        assert all(isinstance(t["amount"], str) for t in report["transfers"])
        status = client.order("big-bid")
        assert status["payment"] == str(big) and status["refund"] == str(big)
        line = next(s for s in client.history() if s["slot"] == slot)
        assert isinstance(line["proposer"], str) and isinstance(line["refunds"], str)


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_kill_dash_nine_of_the_main_pid_leaves_no_worker(server):
    main = server.proc.pid
    helpers = _children(main)
    assert len(helpers) >= 2, helpers  # the settlement worker and the resource tracker
    os.kill(main, signal.SIGKILL)  # the main PID only, not the process group
    server.proc.wait(timeout=10)
    give_up = time.monotonic() + 10
    while any(_alive(p) for p in helpers) and time.monotonic() < give_up:
        time.sleep(0.1)
    assert not [p for p in helpers if _alive(p)]


def test_acceptor_processes_apply_the_same_guards(tmp_path):
    server = ServerProcess(f"sqlite:///{tmp_path / 'svc.db'}", slot_seconds=1.0, extra=["--acceptors", "1"]).start()
    try:
        signer = Signer.random()
        with Client(server.url, signer) as client:
            slot = client.slot()["slot"] + 2
            body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_sendBundle", "params": [nested(600)]})
            answer = httpx.post(server.url + "/", content=body, headers={"content-type": "application/json"}).json()
            assert answer["error"]["code"] == -32600 and "nest" in answer["error"]["message"]
            refused(lambda: client.send_bundle([tx(signer, 0, chain_id=5)], slot), "txs[0]")
            refused(lambda: client.send_bundle([tx(signer, 1, gas=2**64 - 1)], slot), "txs[0]")
            refused(lambda: client.send_bundle([tx(signer, 2)], slot, max_timestamp=1), "maxTimestamp")
            settles_ordinary(client, slot)
    finally:
        server.stop()
