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


def test_a_block_number_taken_by_another_block_voids_its_commitments(tmp_path):
    with Anvil() as node:
        rpc = node.client()
        srv = serve(tmp_path, node.url).start()
        try:
            key = DEV_KEYS[2]
            raw = transfer(key, rpc.nonce(secp256k1.address_of(key)), "0x" + "71" * 20, gas=21_000)
            amount = 21_000 * PER_GAS * 10
            with Client(srv.url) as p:
                target = open_block(p)
                kept = preconf(p, transactions.decode(bytes.fromhex(raw[2:])).hash, target, amount, [raw])
                never = preconf(p, "0x" + "72" * 32, target, amount, None)
                assert p.call("preconf_getDeposit", [BIDDER.address])["escrowed"] == str(2 * amount)
                rpc.call("evm_mine")  # someone else's block at the target number, before the deadline
                assert int(rpc.block(target)["number"], 16) == target
                report = wait_for(lambda: settlement(p, target), timeout=30)
                assert report["balanced"] is True
                outcomes = {o["bidKey"]: o for o in report["commitments"]}
                assert set(outcomes) == {r["bidDigest"] + r["bidSignature"] for r in (kept, never)}
                assert all(o["outcome"] == "void" and o["stake_taken"] == "0" for o in outcomes.values())
                assert sorted(e["kind"] for e in report["ledger"]) == ["unlock", "unlock"]
                deposit = p.call("preconf_getDeposit", [BIDDER.address])
                assert deposit["escrowed"] == "0" and deposit["available"] == str(DEPOSIT)
        finally:
            srv.stop()
        srv = serve(tmp_path, node.url, "again").start()
        try:
            with Client(srv.url) as p:
                time.sleep(2.0)
                assert p.call("preconf_getSettlement", [target])["commitments"] == report["commitments"]
                assert p.call("preconf_getDeposit", [BIDDER.address]) == deposit
        finally:
            srv.stop()


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
            key = DEV_KEYS[3]
            raw = transfer(key, rpc.nonce(secp256k1.address_of(key)), "0x" + "73" * 20, gas=21_000)
            amount = 21_000 * PER_GAS * 10
            with Client(srv.url) as p:
                target = open_block(p)
                kept = preconf(p, transactions.decode(bytes.fromhex(raw[2:])).hash, target, amount, [raw])
                never = preconf(p, "0x" + "74" * 32, target, amount, None)
        finally:
            srv.kill9()
        rpc.call("evm_mine")  # someone else's block at the target number, while the service is down
        rpc.call("evm_mine")
        assert int(rpc.block(target)["number"], 16) == target
        srv = serve(tmp_path, node.url, "restarted").start()
        try:
            with Client(srv.url) as p:
                report = wait_for(lambda: settlement(p, target), timeout=30)
                assert report["balanced"] is True
                outcomes = {o["bidKey"]: o for o in report["commitments"]}
                assert set(outcomes) == {r["bidDigest"] + r["bidSignature"] for r in (kept, never)}
                assert all(o["outcome"] == "void" and o["stake_taken"] == "0" for o in outcomes.values())
                deposit = p.call("preconf_getDeposit", [BIDDER.address])
                assert deposit == {**deposit, "escrowed": "0", "available": str(DEPOSIT)}
        finally:
            srv.stop()
        srv = serve(tmp_path, node.url, "again").start()
        try:
            with Client(srv.url) as p:
                time.sleep(2.0)
                assert p.call("preconf_getSettlement", [target])["commitments"] == report["commitments"]
                assert p.call("preconf_getDeposit", [BIDDER.address]) == deposit
        finally:
            srv.stop()
