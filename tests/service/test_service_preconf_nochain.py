"""Preconfirmations settle without a chain (issue 14): ``mevauction serve`` with no
``--chain`` delivers each slot's final block as its report, and its commitments are
settled against that block by the oracle's rule at once — escrow is spent or released,
so a bidder's held escrow does not grow slot after slot. Hash-only commitments are
matched against the public transactions the service received (``eth_sendRawTransaction``),
even when the transaction arrives after the commitment."""

import time

import pytest
from service_harness import ServerProcess
from test_service_preconf import CHAIN_ID, CONTRACT, DEPOSIT, FUNDED, RESERVE_PER_GAS, preconf_env, settlement

from mevauction.client import Client
from mevauction.client.sdk import signed_transfer
from mevauction.eth import transactions
from mevauction.eth.keccak import keccak as keccak256
from mevauction.preconf.decay import ONE_HUNDRED_PERCENT, residual
from mevauction.preconf.messages import Bid, SignedBid
from mevauction.preconf.nike import keypair

pytestmark = pytest.mark.slow  # starts a service process
SENDER = keccak256(b"no-chain public sender")
SLOTS = 3


def bid_for(block: int, tx_hash: str, amount: int) -> dict:
    _, public = keypair()
    now = int(time.time() * 1000)
    bid = Bid(txn_hash=tx_hash.removeprefix("0x"), bid_amt=amount, block_number=block, decay_start=now - 500,
              decay_end=now + 20_000, slash_amt=amount // 4, bidder_pk_x=public[0], bidder_pk_y=public[1])
    return SignedBid.sign(bid, FUNDED, CHAIN_ID, CONTRACT).to_json()


def test_commitments_settle_against_the_delivered_block_and_escrow_does_not_grow(tmp_path):
    srv = ServerProcess(f"sqlite:///{tmp_path / 'svc.db'}", slot_seconds=1.0, env=preconf_env(),
                        log=tmp_path / "svc.log").start()
    amount = 21_000 * RESERVE_PER_GAS * 2
    try:
        with Client(srv.url) as c:
            kept: list[tuple[int, dict]] = []
            blocks = []
            for n in range(SLOTS):
                while (slot := c.slot())["slot"] < 1 or slot["deadline_ms"] / 1000 - time.time() < 0.6:  # early
                    time.sleep(0.05)
                block = slot["slot"]  # the open slot: the public transaction goes to it too
                raw = signed_transfer(SENDER, n, "0x" + "31" * 20, tip=1)
                tx_hash = transactions.decode(bytes.fromhex(raw[2:])).hash
                k = c.send_preconf_bid(bid_for(block, tx_hash, amount))  # hash-only; the tx comes after
                never = c.send_preconf_bid(bid_for(block, "0x" + f"{n + 1:064x}", amount))
                assert k["status"] == never["status"] == "committed", (k, never)
                c.call("eth_sendRawTransaction", [raw])
                kept.append((block, k))
                blocks.append(block)
                time.sleep(0.5)
            deadline = time.monotonic() + 30
            reports = {}
            while time.monotonic() < deadline and len(reports) < SLOTS:
                reports = {b: r for b in blocks if (r := settlement(c, b)) is not None}
                time.sleep(0.2)
            assert len(reports) == SLOTS, "every slot's commitments are settled without a chain"
            spent = 0
            for block, k in kept:
                report = reports[block]
                assert report["balanced"] is True
                outcome = {o["bidKey"]: o["outcome"] for o in report["commitments"]}
                assert outcome.pop(k["bidDigest"] + k["bidSignature"]) == "reward"
                assert list(outcome.values()) == ["slash"]
                m = k["messages"][0]
                spent += amount * residual(m["bid"]["decayStartTimeStamp"], m["bid"]["decayEndTimeStamp"],
                                           m["dispatchTimestamp"]) // ONE_HUNDRED_PERCENT
            deposit = c.call("preconf_getDeposit", [FUNDED.address])
            assert deposit["escrowed"] == "0", "escrow is spent or released, never held on"
            assert int(deposit["available"]) == DEPOSIT - spent
    finally:
        srv.stop()
