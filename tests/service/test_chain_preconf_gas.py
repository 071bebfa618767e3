"""On a chain, a gas-percentile position is planned on the gas the oracle judges it by
(issue 14): the gas each transaction of the mined block used (its receipt) and the
block's gas used — what mev-commit's oracle reads (``checkPositionConstraintSatisfied``
on ``receipt.GasUsed`` and ``block.GasUsed()``). The auction used to judge positions on
each order's ``Order.gas``, which the evm world takes from the order run alone on the
parent state — for an order that only executes after another (its sender's next nonce)
that is its whole gas limit. Here such an order (limit 1,000,000, using 21,000) stands
after two committed transfers, the second asking for the top 10 % of the block's gas:
planned on the old rule the ask was met (21,000 of 1,042,000 gas before it: 2 %), the
mined block broke it (21,000 of ~100,000: ≥ 20 %) and the oracle slashed a commitment
the report said was kept. Now the report and the settlement agree, commitment by
commitment, on the real anvil block.
"""

from __future__ import annotations

import pytest
from test_chain_preconf import PER_GAS, open_block, preconf, serve, slot_doc, wait_for
from test_service_preconf import settlement

from chain_harness import DEV_KEYS, transfer
from mevauction.chain.node import Anvil
from mevauction.client import Client, Signer
from mevauction.eth import secp256k1, transactions
from mevauction.mechanism.commitments import ABSOLUTE, ANCHOR_TOP, GAS_PERCENTILE
from mevauction.preconf import bidoptions

pytestmark = pytest.mark.slow
pytest.importorskip("pyrevm")


def tx_hash(raw: str) -> str:
    return transactions.decode(bytes.fromhex(raw[2:])).hash


def test_a_gas_percentile_position_is_planned_on_the_gas_the_mined_block_uses(tmp_path):
    with Anvil() as node:
        rpc = node.client()
        srv = serve(tmp_path, node.url).start()
        try:
            first_key, second_key = DEV_KEYS[2], DEV_KEYS[3]
            nonce = rpc.nonce(secp256k1.address_of(first_key))
            c1 = transfer(first_key, nonce, "0x" + "61" * 20, gas=21_000)
            c2 = transfer(second_key, rpc.nonce(secp256k1.address_of(second_key)), "0x" + "62" * 20, gas=21_000)
            # the first sender's next transaction: fails alone on the parent state (nonce), uses 21,000 after c1
            follower = transfer(first_key, nonce + 1, "0x" + "63" * 20, tip=2 * 10**9, gas=1_000_000)
            amount = 21_000 * PER_GAS * 10
            with Client(srv.url, Signer.random()) as c, Client(srv.url) as p:
                target = open_block(c)
                top = preconf(p, tx_hash(c1), target, amount, [c1],
                              bidoptions.encode([bidoptions.PositionConstraint(ANCHOR_TOP, ABSOLUTE, 0)]))
                tenth = preconf(p, tx_hash(c2), target, amount, [c2],
                                bidoptions.encode([bidoptions.PositionConstraint(ANCHOR_TOP, GAS_PERCENTILE, 10)]))
                c.send_bundle([follower], target)
            doc = wait_for(lambda: slot_doc(srv.url, target))
            assert doc["delivery"]["verification"]["ok"], doc["delivery"]["verification"]
            block = rpc.block(target, full=True)
            hashes = [t["hash"] for t in block["transactions"]]
            assert hashes[:3] == [tx_hash(c1), tx_hash(c2), tx_hash(follower)], hashes
            receipts = [rpc.call("eth_getTransactionReceipt", h) for h in hashes]
            used = [int(r["gasUsed"], 16) for r in receipts]
            assert used[2] == 21_000 and int(block["gasUsed"], 16) == sum(used)
            assert used[0] * 100 // sum(used) > 10, "the mined block breaks the 10 % ask"
            with Client(srv.url) as c:
                report = wait_for(lambda: settlement(c, target))
            outcome = {o["commitmentDigest"]: o["outcome"] for o in report["commitments"]}
            planned = {m["commitment"]: m["reason"] for m in doc["commitments"]}
            digest = {r["bidDigest"]: r["messages"][0]["commitmentDigest"] for r in (top, tenth)}
            assert outcome[digest[top["bidDigest"]]] == "reward" and planned[digest[top["bidDigest"]]] is None
            assert outcome[digest[tenth["bidDigest"]]] == "slash"
            reason = planned[digest[tenth["bidDigest"]]]
            assert reason is not None and "gas_percentile" in reason, \
                f"the report must say what the oracle finds: planned {reason!r}, settled slash"
            assert f"{used[0]} of {sum(used[:3])} gas before it" in reason  # the receipts' gas, less the payouts'
        finally:
            srv.stop()
