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

from chain_harness import DEV_KEYS, CuttingProxy, transfer
from mevauction.chain import tools
from mevauction.chain.node import Anvil
from mevauction.cli.demo_chain import wait_delivered
from mevauction.client import Client, Signer
from mevauction.eth import secp256k1
from mevauction.eth.keccak import keccak
from mevauction.eth.transactions import sign

pytestmark = pytest.mark.slow
pytest.importorskip("pyrevm")
ROOT = Path(__file__).resolve().parents[2]
SLOT = 1.5


def wait_delivery(url: str, slot: int, timeout: float = 60.0, status: tuple[str, ...] = ("mined",)) -> dict:
    doc = wait_delivered(url, slot, timeout, status)
    assert (doc.get("delivery") or {}).get("status") in status, f"slot {slot} not delivered: {doc}"
    return doc


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
    holder: list[ServerProcess] = []
    # 3 orders' transactions, then 3 refunds: cut after the 4th send (the first refund),
    # once the node has it and before the service hears back.
    proxy = CuttingProxy(node.url, after=4, cut=lambda: holder[0].kill9())
    srv = ServerProcess(f"sqlite:///{tmp_path / 'svc.db'}", slot_seconds=SLOT, extra=["--chain", proxy.url],
                        log=tmp_path / "svc.log")
    holder.append(srv)
    srv.start()
    with Client(srv.url, Signer.random()) as c:
        slot = c.slot()["slot"]
        for k in range(3):
            c.send_bundle([transfer(DEV_KEYS[k], nonce_of(node, DEV_KEYS[k]), "0x" + "11" * 20)], slot)
    assert proxy.cut_done.wait(60), "the delivery never reached its 4th transaction"
    proxy.close()
    assert srv.proc is not None and srv.proc.poll() is not None, "the service was killed"
    assert int(rpc.call("txpool_status")["pending"], 16) == 4, "the node holds the 4 transactions sent"
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


def test_dropped_bundle_tx_is_never_sent_and_a_reverting_public_tx_stays_out(tmp_path, node):
    """A bundle's transaction the execution drops (``droppingTxHashes``; here a nonce gap)
    is not sent to the node — the plan is what the auction executed — and a public
    transaction that reverts is left out of the block; the block verifies."""
    srv = serve(tmp_path, node).start()
    try:
        rpc = node.client()
        k0, k1 = DEV_KEYS[0], DEV_KEYS[1]
        good = transfer(k0, nonce_of(node, k0), "0x" + "21" * 20)
        gap = transfer(k0, nonce_of(node, k0) + 5, "0x" + "22" * 20)  # invalid at its place: dropped
        gap_hash = "0x" + keccak(bytes.fromhex(gap[2:])).hex()
        # A contract creation whose init code reverts (PUSH1 0 PUSH1 0 REVERT).
        reverting = "0x" + sign(k1, 2, chain_id=31337, nonce=nonce_of(node, k1), gas_limit=80_000, to=None,
                                value=0, data=bytes.fromhex("60006000fd"), max_priority_fee=5 * 10**9,
                                max_fee=10**11).hex()
        with Client(srv.url, Signer.random()) as c:
            slot = c.slot()["slot"]
            bundle = c.call("eth_sendBundle", [{"txs": [good, gap], "blockNumber": hex(slot),
                                                "droppingTxHashes": [gap_hash]}])["bundleHash"]
            public = c.call("eth_sendRawTransaction", [reverting])
        doc = wait_delivery(srv.url, slot)
        d = doc["delivery"]
        assert d["verification"]["ok"], (d["verification"], [t["hash"] for t in d["txs"]], gap_hash)
        assert doc["block"] == [bundle] and public not in doc["block"]
        assert gap_hash not in [t["hash"] for t in d["txs"]], "a dropped transaction was planned"
        block = rpc.block(slot)
        assert gap_hash not in block["transactions"] and public not in block["transactions"]
        assert rpc.call("eth_getTransactionByHash", gap_hash) is None, "the dropped transaction reached the node"
    finally:
        srv.stop()


def test_builder_wins_block_is_mined_and_verifies(tmp_path, node):
    """A registered builder outbids the default block (β > β0): the final block B* ∪ S is
    mined with the winner's settlement (what it owes beyond the bids comes from its deposit)
    and the proposer's revenue, and it verifies from chain data."""
    builder = Signer.random()
    srv = ServerProcess(f"sqlite:///{tmp_path / 'b.db'}", slot_seconds=3.0,
                        extra=["--chain", node.url, "--builder", f"{builder.address}={10**19}"],
                        log=tmp_path / "b.log").start()
    try:
        k0, k1 = DEV_KEYS[0], DEV_KEYS[1]
        n0 = nonce_of(node, k0)
        with Client(srv.url, Signer.random()) as c:
            slot = c.slot()["slot"]  # the open one: an empty block before it would never be mined
            low = c.send_bundle([transfer(k0, n0, "0x" + "41" * 20, tip=10**9)], slot)
            high = c.send_bundle([transfer(k0, n0, "0x" + "42" * 20, tip=3 * 10**9)], slot)  # same nonce: conflict
            free = c.send_bundle([transfer(k1, nonce_of(node, k1), "0x" + "43" * 20)], slot)
        with Client(srv.url, builder) as b:
            b.send_builder_bid(slot, bid=10**15, block=[high])
        doc = wait_delivery(srv.url, slot)
        d = doc["delivery"]
        assert doc["winner"] == builder.address.lower() or doc["winner"] == builder.address, doc["winner"]
        assert set(doc["block"]) == {high, free} and low not in doc["block"]
        assert d["verification"]["ok"], d["verification"]
        roles = [p["role"] for p in d["payouts"]]
        assert "proposer" in roles
        assert int(d["funding"]) > 0, "the winner's bid beyond what the block paid came from its deposit"
        proposer = next(p for p in d["payouts"] if p["role"] == "proposer")
        assert int(proposer["amount"]) == int(doc["proposer"])
    finally:
        srv.stop()
