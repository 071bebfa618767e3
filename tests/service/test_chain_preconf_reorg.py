"""A settled block reorganised away is settled again (issue 14), on a real anvil.

The service delivers a block opening with a committed transaction and settles it (the
provider is paid the decayed amount). ``anvil_reorg`` then replaces that block with one
without the transaction (anvil keeps the coinbase the service set, so the oracle rule
attributes it to this provider): the commitment is re-settled against the new canonical
block — the payment undone, the escrow released, the provider slashed — exactly once,
and a restarted service reports the same. (A replacing block under another coinbase makes
every commitment void: ``settle_mined``.)"""

from __future__ import annotations

import time

import pytest
from test_chain_preconf import BIDDER, DEPOSIT, PER_GAS, open_block, preconf, serve, settlement, slot_doc, wait_for

from chain_harness import DEV_KEYS, transfer
from mevauction.chain.node import Anvil
from mevauction.client import Client
from mevauction.eth import secp256k1, transactions

pytestmark = pytest.mark.slow
pytest.importorskip("pyrevm")


def test_a_settled_block_reorganised_away_is_settled_again_once(tmp_path):
    with Anvil() as node:
        rpc = node.client()
        srv = serve(tmp_path, node.url).start()
        try:
            with Client(srv.url) as p:
                target = open_block(p)
                key = DEV_KEYS[2]
                raw = transfer(key, rpc.nonce(secp256k1.address_of(key)), "0x" + "21" * 20)
                tx_hash = transactions.decode(bytes.fromhex(raw[2:])).hash
                amount = 21_000 * PER_GAS * 10
                record = preconf(p, tx_hash, target, amount, [raw])
                wait_for(lambda: slot_doc(srv.url, target))
                first = wait_for(lambda: settlement(p, target))
                [o] = first["commitments"]
                assert o["outcome"] == "reward" and first["balanced"]
                old_hash = rpc.block(target)["hash"]
                assert first["blockHash"] == old_hash
                paid = int(o["provider_payout"]) + int(o["protocol_fee"])
                assert int(p.call("preconf_getDeposit", [BIDDER.address])["available"]) == DEPOSIT - paid

                rpc.call("anvil_reorg", rpc.block_number() - target + 1, [])
                assert rpc.block(target)["hash"] != old_hash
                again = wait_for(lambda: (s := settlement(p, target)) and s.get("blockHash") != old_hash and s)
                [v] = again["commitments"]
                assert v["bidKey"] == record["bidDigest"] + record["bidSignature"]
                # anvil re-mines under the coinbase the service set, so the oracle attributes the
                # new block to this provider, and it lacks the transaction: broken, slashed
                assert v["outcome"] == "slash" and again["balanced"], again
                assert int(v["slash_to_bidder"]) == amount // 2
                assert again["blockHash"] == rpc.block(target)["hash"]
                deposit = p.call("preconf_getDeposit", [BIDDER.address])
                assert deposit == {**deposit, "available": str(DEPOSIT), "escrowed": "0"}, "paid back, not twice"
                time.sleep(4)  # more turns: settled against this block once
                assert p.call("preconf_getDeposit", [BIDDER.address]) == deposit
                assert settlement(p, target)["commitments"] == again["commitments"]
        finally:
            srv.stop()
        srv = serve(tmp_path, node.url, "restarted").start()
        try:
            with Client(srv.url) as p:
                assert p.call("preconf_getDeposit", [BIDDER.address]) == deposit
                assert settlement(p, target)["commitments"] == again["commitments"]
        finally:
            srv.stop()
