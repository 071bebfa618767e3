"""``mevauction serve --chain anvil``: the service starts its own node, deploys the real
contracts on it, delivers a block that verifies, and leaves no node behind — neither
after SIGTERM nor after SIGKILL of the service (only the service's own pid is signalled:
the node must go because its parent went, not because the test killed it)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from service_harness import ServerProcess

from chain_harness import DEV_KEYS, transfer
from mevauction.chain.deploy import plan
from mevauction.client import Client, Signer
from mevauction.eth import secp256k1
from mevauction.service.onchain import CHAIN_LAYOUT

pytestmark = pytest.mark.slow
pytest.importorskip("pyrevm")


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def anvil_of(pid: int) -> int:
    found = [c for c in children(pid) if Path(f"/proc/{c}/comm").read_text().strip() == "anvil"]
    assert len(found) == 1, f"the service runs one anvil child, found {found}"
    return found[0]


def gone(pid: int, timeout: float = 15.0) -> bool:
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        except FileNotFoundError:
            return True
        if state == "Z":  # exited, not yet reaped by its (dead) parent's reaper
            return True
        time.sleep(0.05)
    return False


def start(tmp_path: Path, name: str) -> ServerProcess:
    return ServerProcess(f"sqlite:///{tmp_path / (name + '.db')}", slot_seconds=1.5, extra=["--chain", "anvil"],
                         log=tmp_path / f"{name}.log").start(timeout=120)


def test_embedded_anvil_deploys_delivers_a_verified_block_and_stops_on_sigterm(tmp_path):
    srv = start(tmp_path, "term")
    assert srv.proc is not None
    node = anvil_of(srv.proc.pid)
    try:
        expected = plan(CHAIN_LAYOUT, 31337)
        with Client(srv.url, Signer.random()) as c:
            # the real contracts are on the node (read through the service)
            for address in (expected.weth, *expected.routers.values(), *expected.tokens,
                            expected.pools[0][0].address, expected.searchers[0].contract):
                assert len(c.call("eth_getCode", [address, "latest"])) > 1000, address
            key = DEV_KEYS[0]
            nonce = int(c.call("eth_getTransactionCount", [secp256k1.address_of(key), "latest"]), 16)
            slot = c.slot()["slot"]
            tx = c.call("eth_sendRawTransaction", [transfer(key, nonce, "0x" + "77" * 20, tip=2 * 10**9)])
        give_up = time.monotonic() + 60
        doc: dict = {}
        while time.monotonic() < give_up:
            doc = httpx.get(f"{srv.url}/v1/slots/{slot}", timeout=5).json()
            if (doc.get("delivery") or {}).get("verification"):
                break
            time.sleep(0.1)
        d = doc["delivery"]
        assert d["status"] == "mined" and d["verification"]["ok"], d
        assert [t["hash"] for t in d["txs"]] == [tx]
        with Client(srv.url) as c:
            mined = c.call("eth_getBlockByNumber", [hex(slot), False])
        assert mined["hash"] == d["hash"] and mined["miner"] == d["coinbase"]
        os.kill(srv.proc.pid, signal.SIGTERM)
        srv.proc.wait(timeout=30)
        assert gone(node), "anvil outlived the service's SIGTERM"
    finally:
        srv.stop()


def test_embedded_anvil_dies_with_a_service_killed_by_sigkill(tmp_path):
    srv = start(tmp_path, "kill")
    assert srv.proc is not None
    node = anvil_of(srv.proc.pid)
    try:
        os.kill(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait(timeout=10)
        assert gone(node), "anvil outlived the service's SIGKILL"
    finally:
        srv.stop()
