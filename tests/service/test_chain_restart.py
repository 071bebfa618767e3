"""The node restarted with its state lost (``--chain URL``; a new anvil on the same URL):
the delivered block is reported gone (``reorged``, block missing), numbers the service
already settled are not reopened (the open slot's deadlines fail with the reason, its
orders are kept), and once the new chain reaches the slot it is delivered there."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
import pytest
from service_harness import ServerProcess, free_port

from chain_harness import DEV_KEYS, transfer
from mevauction.chain.node import Anvil, AnvilConfig
from mevauction.client import Client, Signer
from mevauction.eth import secp256k1

pytestmark = pytest.mark.slow
pytest.importorskip("pyrevm")


@dataclass
class OnPort(AnvilConfig):
    port: int = 0

    def argv(self, binary: str) -> list[str]:
        argv = super().argv(binary)
        argv[argv.index("--port") + 1] = str(self.port)
        return argv


def slot_doc(url: str, slot: int, until, timeout: float = 60.0) -> dict:
    give_up = time.monotonic() + timeout
    doc: dict = {}
    while time.monotonic() < give_up:
        r = httpx.get(f"{url}/v1/slots/{slot}", timeout=5)
        if r.status_code == 200 and until(doc := r.json()):
            return doc
        time.sleep(0.1)
    raise AssertionError(f"slot {slot}: {doc}")


def send(url: str, node: Anvil) -> tuple[int, str]:
    key = DEV_KEYS[0]
    with Client(url, Signer.random()) as c:
        slot = c.slot()["slot"]
        nonce = node.client().nonce(secp256k1.address_of(key))
        return slot, c.send_bundle([transfer(key, nonce, "0x" + "31" * 20)], slot)


def test_node_restarted_with_its_state_lost(tmp_path):
    port = free_port()
    first = Anvil(OnPort(port=port)).start()
    srv = ServerProcess(f"sqlite:///{tmp_path / 'svc.db'}", slot_seconds=1.5,
                        extra=["--chain", f"http://127.0.0.1:{port}"], log=tmp_path / "svc.log").start()
    second = None
    try:
        slot, _ = send(srv.url, first)
        doc = slot_doc(srv.url, slot, lambda d: (d.get("delivery") or {}).get("verification"))
        assert doc["delivery"]["verification"]["ok"]
        first.stop()
        second = Anvil(OnPort(port=port)).start()  # the same URL, a chain back at genesis
        gone = slot_doc(srv.url, slot, lambda d: d["delivery"]["status"] == "reorged", timeout=30)
        assert "missing" in gone["delivery"]["reason"], gone["delivery"]
        # Numbers already settled are not reopened: the open slot stays after the delivered
        # block, its deadline fails with the reason, its order is kept ...
        with Client(srv.url) as c:
            assert int(c.call("eth_blockNumber", []), 16) == 0
            assert c.slot()["slot"] == slot + 1
        again, bundle = send(srv.url, second)
        assert again == slot + 1
        give_up = time.monotonic() + 30
        while time.monotonic() < give_up:
            health = httpx.get(f"{srv.url}/healthz").json()
            if health["failures"].get("slots_failed"):
                break
            time.sleep(0.2)
        assert health["failures"].get("slots_failed"), health
        # ... and once the new chain reaches the slot's parent, the slot is delivered on it.
        for _ in range(slot):
            second.client().call("evm_mine")
        doc2 = slot_doc(srv.url, again, lambda d: bool((d.get("delivery") or {}).get("verification")), timeout=60)
        assert doc2["block"] == [bundle] and doc2["delivery"]["verification"]["ok"], doc2["delivery"]
        reasons = [f["reason"] for f in doc2["chain_failures"]]
        assert reasons and all("restarted and lost its state" in r for r in reasons), reasons
        assert second.client().block(again)["hash"] == doc2["delivery"]["hash"]
    finally:
        srv.stop()
        first.stop()
        if second is not None:
            second.stop()
