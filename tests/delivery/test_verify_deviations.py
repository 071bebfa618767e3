"""``mevauction verify`` against blocks mined on a real anvil: the planned block verifies;
a block with two transactions swapped, or a refund short by 1 wei, does not (exit 1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chain_harness import DEV_KEYS, transfer
from mevauction.chain.node import Anvil
from mevauction.delivery import mine
from mevauction.delivery.plan import BlockPlan, block_plan, coinbase_key, signed_payouts
from mevauction.delivery.verify import verify
from mevauction.eth import secp256k1
from mevauction.intake.scenario import parse_scenario
from mevauction.settlement.report import ReportDocument

pytestmark = pytest.mark.slow
pytest.importorskip("pyrevm")
ROOT = Path(__file__).resolve().parents[2]
SECRET = b"\x07" * 32
FEE_RECIPIENT = "0x" + "22" * 20


def settle_on(node: Anvil) -> tuple[dict, BlockPlan]:
    """Three orders from three senders (one pays the coinbase directly) auctioned on the
    node's state at its head; the report and the block plan for the next block."""
    rpc = node.client()
    parent = mine.parent_of_next(rpc)
    number = parent.number + 1
    coinbase = secp256k1.address_of(coinbase_key(SECRET, 31337, number))
    mine.prepare_coinbase(rpc, coinbase)
    raws = [transfer(DEV_KEYS[0], rpc.nonce(secp256k1.address_of(DEV_KEYS[0])), "0x" + "11" * 20),
            transfer(DEV_KEYS[1], rpc.nonce(secp256k1.address_of(DEV_KEYS[1])), coinbase, tip=2 * 10**9),
            transfer(DEV_KEYS[2], rpc.nonce(secp256k1.address_of(DEV_KEYS[2])), "0x" + "13" * 20, tip=3 * 10**9)]
    world = {"kind": "evm", "chain_id": 31337, "fork_url": node.url, "fork_block": hex(parent.number),
             "block": {"number": number, "timestamp": parent.timestamp + 12, "base_fee": parent.base_fee,
                       "gas_limit": parent.gas_limit, "coinbase": coinbase}}
    orders = [{"id": f"o{i}", "raw_txs": [r]} for i, r in enumerate(raws)]
    scenario = {"format": "mevauction.scenario/1", "world": world, "block_gas_limit": parent.gas_limit,
                "orders": orders, "builders": []}
    report = ReportDocument.of(parse_scenario(scenario).run_auction()).to_json()
    assert report["block"] and all(report["searchers"][o]["refund"] > 0 for o in report["block"])
    plan = block_plan(report, {o["id"]: o for o in orders}, number=number, timestamp=parent.timestamp + 12,
                      base_fee=parent.base_fee, chain_id=31337, secret=SECRET, fee_recipient=FEE_RECIPIENT)
    return report, plan


def document(report: dict, plan: BlockPlan) -> dict:
    return {"report": report, "delivery": plan.to_json(), "fee_recipient": FEE_RECIPIENT}


def cli_verify(url: str, number: int, doc: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / f"slot{number}.json"
    path.write_text(json.dumps(doc))
    return subprocess.run([sys.executable, "-m", "mevauction", "verify", "--rpc", url, "--block", str(number),
                           "--report", str(path)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})


def test_planned_block_verifies_and_each_deviation_is_caught(tmp_path):
    with Anvil() as node:
        rpc = node.client()
        # 1. exactly as decided
        report, plan = settle_on(node)
        mined = mine.mine(rpc, plan)
        assert mined.mismatches == []
        assert [t["hash"] for t in rpc.block(plan.number, full=True)["transactions"]] == plan.hashes
        assert verify(rpc, plan.number, document(report, plan)).ok
        ok = cli_verify(node.url, plan.number, document(report, plan), tmp_path)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "verified" in ok.stdout

        # 2. two order transactions swapped
        report, plan = settle_on(node)
        swapped = BlockPlan(plan.number, plan.timestamp, plan.base_fee, plan.coinbase,
                            (plan.txs[1], plan.txs[0], *plan.txs[2:]), plan.payouts, plan.funding)
        mined = mine.mine(rpc, swapped)
        assert mined.mismatches == []  # the node mined what it was given: only verify knows the decision
        bad = cli_verify(node.url, plan.number, document(report, plan), tmp_path)
        assert bad.returncode == 1
        assert "MISMATCH: transaction 0" in bad.stdout and "MISMATCH: transaction 1" in bad.stdout

        # 3. a refund short by 1 wei (signed by the real coinbase key, same nonces)
        report, plan = settle_on(node)
        first = plan.payouts[0]
        short = signed_payouts(coinbase_key(SECRET, 31337, plan.number), 31337, plan.base_fee,
                               [type(first)(first.role, first.party, first.recipient, first.amount - 1)])[0]
        cheated = BlockPlan(plan.number, plan.timestamp, plan.base_fee, plan.coinbase, plan.txs,
                            (short, *plan.payouts[1:]), plan.funding)
        mine.mine(rpc, cheated)
        bad = cli_verify(node.url, plan.number, document(report, plan), tmp_path)
        assert bad.returncode == 1
        assert f"transfer(s) of {first.amount} wei to {first.recipient} decided, not in the block" in bad.stdout
        assert f"transfer(s) of {first.amount - 1} wei" in bad.stdout
