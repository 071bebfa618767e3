"""On a chain, a block number another block takes settles this provider's commitments
for it (issue 14): the service did not build the block, so — as mev-commit's oracle
leaves a commitment whose committer is not the block's winner (never opened: no escrow
is taken) — each is void, its escrow released to the bidder, no slash, and the block's
settlement report shows each one. Before, the slot was stored as failed and its
commitments were never settled: the bidder's escrow stayed held. A restarted service
settles nothing again."""

from __future__ import annotations

import time

import pytest
from test_chain_preconf import BIDDER, DEPOSIT, PER_GAS, open_block, preconf, serve, wait_for
from test_service_preconf import settlement

from chain_harness import DEV_KEYS, transfer
from mevauction.chain.node import Anvil
from mevauction.client import Client
from mevauction.eth import secp256k1, transactions

pytestmark = pytest.mark.slow
pytest.importorskip("pyrevm")


AMOUNT = 21_000 * PER_GAS * 10


def commit_two(p: Client, rpc, key: str, to: str, missing: str) -> tuple[int, dict, dict]:
    """The open block, a commitment to a real transfer (sent with the bid) and one to a
    transaction that never exists, both for it."""
    raw = transfer(key, rpc.nonce(secp256k1.address_of(key)), to, gas=21_000)
    target = open_block(p)
    kept = preconf(p, transactions.decode(bytes.fromhex(raw[2:])).hash, target, AMOUNT, [raw])
    never = preconf(p, missing, target, AMOUNT, None)
    return target, kept, never


def settled_void(p: Client, target: int, kept: dict, never: dict) -> dict:
    """The block's settlement report, balanced, both commitments void with no stake taken."""
    report = wait_for(lambda: settlement(p, target), timeout=30)
    assert report["balanced"] is True
    outcomes = {o["bidKey"]: o for o in report["commitments"]}
    assert set(outcomes) == {r["bidDigest"] + r["bidSignature"] for r in (kept, never)}
    assert all(o["outcome"] == "void" and o["stake_taken"] == "0" for o in outcomes.values())
    return report


def restart_moves_nothing(tmp_path, node: Anvil, target: int, report: dict, deposit: dict) -> None:
    srv = serve(tmp_path, node.url, "again").start()
    try:
        with Client(srv.url) as p:
            time.sleep(2.0)
            assert p.call("preconf_getSettlement", [target])["commitments"] == report["commitments"]
            assert p.call("preconf_getDeposit", [BIDDER.address]) == deposit
    finally:
        srv.stop()


def test_a_block_number_taken_by_another_block_voids_its_commitments(tmp_path):
    with Anvil() as node:
        rpc = node.client()
        srv = serve(tmp_path, node.url).start()
        try:
            with Client(srv.url) as p:
                target, kept, never = commit_two(p, rpc, DEV_KEYS[2], "0x" + "71" * 20, "0x" + "72" * 32)
                assert p.call("preconf_getDeposit", [BIDDER.address])["escrowed"] == str(2 * AMOUNT)
                rpc.call("evm_mine")  # someone else's block at the target number, before the deadline
                assert int(rpc.block(target)["number"], 16) == target
                report = settled_void(p, target, kept, never)
                assert sorted(e["kind"] for e in report["ledger"]) == ["unlock", "unlock"]
                deposit = p.call("preconf_getDeposit", [BIDDER.address])
                assert deposit["escrowed"] == "0" and deposit["available"] == str(DEPOSIT)
        finally:
            srv.stop()
        restart_moves_nothing(tmp_path, node, target, report, deposit)


def test_a_number_taken_while_the_service_is_down_voids_its_commitments_after_restart(tmp_path):
    """The service is killed (kill -9) with commitments for the open block; while it is down
    another block takes that number (and the chain moves on). The restarted service never
    built that block: both commitments are settled void, escrow released, the ledger
    balanced — and a second restart moves nothing again. (The restarted service reopens the
    block for its commitments, finds the number taken at its deadline and voids them; with
    that voiding removed this test times out.)"""
    with Anvil() as node:
        rpc = node.client()
        srv = serve(tmp_path, node.url).start()
        try:
            with Client(srv.url) as p:
                target, kept, never = commit_two(p, rpc, DEV_KEYS[3], "0x" + "73" * 20, "0x" + "74" * 32)
        finally:
            srv.kill9()
        rpc.call("evm_mine")  # someone else's block at the target number, while the service is down
        rpc.call("evm_mine")
        assert int(rpc.block(target)["number"], 16) == target
        srv = serve(tmp_path, node.url, "restarted").start()
        try:
            with Client(srv.url) as p:
                report = settled_void(p, target, kept, never)
                deposit = p.call("preconf_getDeposit", [BIDDER.address])
                assert deposit == {**deposit, "escrowed": "0", "available": str(DEPOSIT)}
        finally:
            srv.stop()
        restart_moves_nothing(tmp_path, node, target, report, deposit)
