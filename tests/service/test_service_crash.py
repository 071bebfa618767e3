"""Reliability: kill -9 the server repeatedly under load; acknowledged orders survive.

Every bundle the server acknowledged before a SIGKILL must be on disk after restart,
exactly once, and every slot that received orders must settle.
"""

import random
import sqlite3
import threading
import time

import httpx
import pytest
from service_harness import ServerProcess

from mevauction.client import Client, RpcError, Signer, signed_transfer

KILLS = 20


def load(url: str, stop: threading.Event, acked: dict[str, int], lock: threading.Lock, seed: int) -> None:
    """Send bundles to the next few slots until stopped; record each acknowledgement."""
    rng = random.Random(seed)
    signer = Signer(rng.randbytes(32))
    nonce = 0
    with Client(url, signer, timeout=2) as client:
        try:
            current = client.slot()["slot"]
        except (httpx.HTTPError, RpcError):
            return
        while not stop.is_set():
            raw = signed_transfer(
                signer.private_key, nonce, "0x" + rng.randbytes(20).hex(), tip=rng.randrange(1, 10**9)
            )
            nonce += 1
            slot = current + rng.randrange(1, 4)
            try:
                bundle = client.send_bundle([raw], slot)
            except RpcError as exc:  # e.g. the slot closed meanwhile: not acknowledged
                if "closed" in exc.message:
                    current += 1
                continue
            except httpx.HTTPError:  # killed mid-request: not acknowledged
                return
            with lock:
                acked[bundle] = slot


@pytest.mark.slow
def test_kill_dash_nine_under_load(tmp_path):
    db_path = tmp_path / "crash.db"
    acked: dict[str, int] = {}
    lock = threading.Lock()
    rng = random.Random(7)
    server = None
    for round_ in range(KILLS):
        server = ServerProcess(f"sqlite:///{db_path}", slot_seconds=1.0).start()
        stop = threading.Event()
        threads = [threading.Thread(target=load, args=(server.url, stop, acked, lock, round_ * 10 + t))
                   for t in range(3)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.2, 0.8))
        server.kill9()
        stop.set()
        for t in threads:
            t.join(timeout=10)
    assert len(acked) > 100  # the load really ran

    server = ServerProcess(f"sqlite:///{db_path}", slot_seconds=1.0).start()
    try:
        with Client(server.url) as reader:
            last = max(acked.values())
            reader.wait_report(last, timeout=30)
        conn = sqlite3.connect(db_path)
        rows = conn.execute("SELECT id, slot, status FROM orders").fetchall()
        settled = {s for (s,) in conn.execute("SELECT slot FROM slots")}
        conn.close()
    finally:
        server.stop()
    stored: dict[str, list[tuple[int, str]]] = {}
    for oid, slot, status in rows:
        stored.setdefault(oid, []).append((slot, status))
    missing = [h for h in acked if h not in stored]
    assert not missing, f"{len(missing)} acknowledged orders lost"
    assert all(len(v) == 1 for v in stored.values()), "an order was stored twice"
    assert all(stored[h][0][0] == slot for h, slot in acked.items())
    assert {slot for slot in acked.values()} <= settled, "a slot with acknowledged orders did not settle"
    assert all(stored[h][0][1] in ("included", "excluded") for h in acked)
