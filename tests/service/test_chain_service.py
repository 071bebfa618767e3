"""``mevauction serve --chain URL`` against a real anvil the test starts: the slot follows
the chain, bundles and public transactions land in a block mined exactly as decided, the
block verifies from chain data, and the faults: the node unreachable at the deadline, a
delivered block reorganised away, the service killed with SIGKILL mid-delivery."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from service_harness import ServerProcess

from chain_harness import DEV_KEYS, transfer
from mevauction.chain import tools
from mevauction.chain.node import Anvil
from mevauction.client import Client, Signer
from mevauction.eth import secp256k1

pytestmark = pytest.mark.slow
pytest.importorskip("pyrevm")
ROOT = Path(__file__).resolve().parents[2]
SLOT = 1.5


def wait_delivery(url: str, slot: int, timeout: float = 60.0, status: tuple[str, ...] = ("mined",)) -> dict:
    give_up = time.monotonic() + timeout
    doc: dict = {}
    while time.monotonic() < give_up:
        r = httpx.get(f"{url}/v1/slots/{slot}", timeout=5)
        if r.status_code == 200:
            doc = r.json()
            d = doc.get("delivery") or {}
            if d.get("status") in status and (d.get("verification") or d.get("status") != "mined"):
                return doc
        time.sleep(0.1)
    raise AssertionError(f"slot {slot} not delivered: {doc}")


def nonce_of(node: Anvil, key: bytes) -> int:
    return node.client().nonce(secp256k1.address_of(key))


@pytest.fixture()
def node():
    with Anvil() as n:
        yield n


def serve(tmp_path: Path, node: Anvil, env: dict | None = None, name: str = "svc") -> ServerProcess:
    return ServerProcess(f"sqlite:///{tmp_path / (name + '.db')}", slot_seconds=SLOT, extra=["--chain", node.url],
                         env=env, log=tmp_path / f"{name}.log")


def test_bundles_and_public_txs_land_in_a_mined_block_that_verifies(tmp_path, node):
    srv = serve(tmp_path, node).start()
    try:
        rpc = node.client()
        with Client(srv.url, Signer.random()) as c:
            assert c.call("eth_chainId", []) == hex(31337) and c.call("net_version", []) == "31337"
            head = rpc.block_number()
            assert int(c.call("eth_blockNumber", []), 16) == head
            assert c.slot()["slot"] == head + 1, "the open slot is the chain's next block"
            assert c.call("eth_getBlockByNumber", ["latest", False])["hash"] == rpc.block("latest")["hash"]
            slot = head + 1
            bundle = c.send_bundle([transfer(DEV_KEYS[0], nonce_of(node, DEV_KEYS[0]), "0x" + "11" * 20)], slot)
            public = c.call("eth_sendRawTransaction",
                            [transfer(DEV_KEYS[1], nonce_of(node, DEV_KEYS[1]), "0x" + "12" * 20, tip=3 * 10**9)])
        doc = wait_delivery(srv.url, slot)
        d = doc["delivery"]
        assert d["verification"]["ok"], d
        block = rpc.block(slot, full=True)
        assert block["hash"] == d["hash"] and block["miner"] == d["coinbase"]
        order_txs = [t["hash"] for t in d["txs"]]
        assert [t["hash"] for t in block["transactions"]] == order_txs + [p["hash"] for p in d["payouts"]]
        assert {t["order"] for t in d["txs"]} == {bundle, public} and set(doc["block"]) == {bundle, public}
        assert all(int(p["amount"]) == int(doc["searchers"][p["party"]]["refund"]) for p in d["payouts"])
        # verify as a third party would: the CLI, from the node, against the published document
        path = tmp_path / "slot.json"
        path.write_text(json.dumps(doc))
        out = subprocess.run([sys.executable, "-m", "mevauction", "verify", "--rpc", node.url, "--block", str(slot),
                              "--report", str(path)], capture_output=True, text=True, timeout=60,
                             env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        assert out.returncode == 0, out.stdout + out.stderr
        # the relay data API names the real block
        delivered = httpx.get(f"{srv.url}/relay/v1/data/bidtraces/proposer_payload_delivered",
                              params={"slot": slot}).json()
        assert delivered[0]["block_hash"] == block["hash"]
        received = httpx.get(f"{srv.url}/relay/v1/data/bidtraces/builder_blocks_received",
                             params={"slot": slot}).json()
        assert block["hash"] in {r["block_hash"] for r in received}
        # cast reads the delivered block and a refund's recipient balance
        cast = tools.binary("cast")
        shown = subprocess.run([cast, "block", str(slot), "--rpc-url", node.url, "--json"], capture_output=True,
                               text=True, timeout=30, check=True)
        assert json.loads(shown.stdout)["hash"] == block["hash"]
        tx = subprocess.run([cast, "tx", d["payouts"][0]["hash"], "value", "--rpc-url", node.url],
                            capture_output=True, text=True, timeout=30, check=True)
        assert int(tx.stdout.strip(), 0) == int(d["payouts"][0]["amount"])

        # a delivered block reorganised away is detected and reported
        rpc.call("anvil_reorg", 1, [])
        wait_delivery(srv.url, slot, status=("reorged",), timeout=20)
    finally:
        srv.stop()


def test_node_unreachable_at_the_deadline_keeps_the_orders_for_the_next_block(tmp_path, node):
    srv = serve(tmp_path, node).start()
    try:
        with Client(srv.url, Signer.random()) as c:
            slot = c.slot()["slot"]
            bundle = c.send_bundle([transfer(DEV_KEYS[0], nonce_of(node, DEV_KEYS[0]), "0x" + "11" * 20)], slot)
            os.kill(node.process.pid, signal.SIGSTOP)  # the node stops answering
            try:
                give_up = time.monotonic() + 30
                failures: list = []
                while time.monotonic() < give_up and not failures:
                    time.sleep(0.3)
                    failures = httpx.get(f"{srv.url}/healthz").json()["failures"].get("slots_failed", 0)
            finally:
                os.kill(node.process.pid, signal.SIGCONT)
        doc = wait_delivery(srv.url, slot, timeout=60)
        assert doc["block"] == [bundle], "the order was kept and landed in the same block number"
        assert doc["chain_failures"] and "node" in doc["chain_failures"][0]["reason"]
        assert doc["delivery"]["verification"]["ok"]
    finally:
        srv.stop()


def test_kill_9_mid_delivery_never_sends_a_settlement_twice(tmp_path, node):
    rpc = node.client()
    srv = serve(tmp_path, node, env={"MEVAUCTION_DELIVERY_PAUSE": "0.5"}).start()
    with Client(srv.url, Signer.random()) as c:
        slot = c.slot()["slot"]
        for k in range(3):
            c.send_bundle([transfer(DEV_KEYS[k], nonce_of(node, DEV_KEYS[k]), "0x" + "11" * 20)], slot)
    give_up = time.monotonic() + 30
    while time.monotonic() < give_up:  # kill it once the first transactions are in the node's pool
        pool = rpc.call("txpool_status")
        if int(pool["pending"], 16) >= 2:
            break
        time.sleep(0.05)
    srv.kill9()
    assert rpc.block_number() == slot - 1, "killed before the block was mined"
    again = serve(tmp_path, node).start()
    try:
        doc = wait_delivery(again.url, slot, timeout=60)
        d = doc["delivery"]
        assert d["verification"]["ok"], d
        block = rpc.block(slot, full=True)
        senders = [t["from"] for t in block["transactions"]]
        assert senders.count(d["coinbase"]) == len(d["payouts"]) == 3
        assert rpc.nonce(d["coinbase"]) == 3, "each settlement transaction executed once"
    finally:
        again.stop()
