"""Preconfirmations bind the delivered block (issue 14 items 1–3), end to end: a real
anvil, ``mevauction serve --chain URL`` with a provider key, bids signed by real keys.

One slot carries three commitments: one with its raw transaction (it must open the
mined block and the provider is paid the decayed amount), one whose transaction's nonce
another transaction consumed in an earlier block (it cannot execute: slashed), one never
sent (no raw transaction: slashed), and one hash-only (mev-commit bidders often send only
``txHashes``) whose transaction the bidder sends publicly (``eth_sendRawTransaction``) after
the commitment, while a bundle spending its nonce pays more: the service matches the hash
and forces the committed one into the block. A registered builder's block that omits the committed
bundle is invalid with the reason. The service is killed (SIGKILL) after the block is
mined and verified, as it asks for the receipts to settle it; the restarted service
settles it. The settlement ledger balances, escrow is spent or released, and a service
restarted again reports the same settlement and deposits. Before the
bids, two empty deadlines postpone the next block (same number): the desk must follow the
chain's clock, not the one it started with, or it refuses the bids as too late.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from service_harness import ServerProcess
from test_service_preconf import settlement

from chain_harness import DEV_KEYS, CuttingProxy, transfer
from mevauction.chain.node import Anvil
from mevauction.client import Client, Signer
from mevauction.eth import secp256k1, transactions
from mevauction.eth.keccak import keccak as keccak256
from mevauction.preconf.decay import ONE_HUNDRED_PERCENT, residual
from mevauction.preconf.keys import Signer as PreconfSigner
from mevauction.preconf.messages import Bid, SignedBid
from mevauction.preconf.nike import keypair

pytestmark = pytest.mark.slow
pytest.importorskip("pyrevm")
SLOT = 3.0
CHAIN_ID = 17864
CONTRACT = "0x" + "ab" * 20
PROVIDER_KEY = keccak256(b"chain provider")
BIDDER = PreconfSigner.from_label("chain preconf bidder")
DEPOSIT = 10**15
STAKE = 10**17
PER_GAS = 10
BUILDER = Signer(keccak256(b"chain builder"))


def env() -> dict[str, str]:
    return {"MEVAUCTION_PRECONF_KEY": PROVIDER_KEY.hex(), "MEVAUCTION_PRECONF_CONTRACT": CONTRACT,
            "MEVAUCTION_PRECONF_RESERVE_PER_GAS": str(PER_GAS), "MEVAUCTION_PRECONF_FINAL_MS": "300",
            "MEVAUCTION_PRECONF_STAKE": str(STAKE),
            # mev-commit's flow: a public transaction may arrive after its commitment
            "MEVAUCTION_PRECONF_HASH_ONLY": "any",
            "MEVAUCTION_PRECONF_DEPOSITS": json.dumps({BIDDER.address: str(DEPOSIT)})}


def serve(tmp_path: Path, url: str, name: str = "svc") -> ServerProcess:
    return ServerProcess(f"sqlite:///{tmp_path / 'svc.db'}", slot_seconds=SLOT, env=env(),
                         extra=["--chain", url, "--builder", f"{BUILDER.address}=10000000000000000000"],
                         log=tmp_path / f"{name}.log")


def preconf(c: Client, tx_hash: str, block: int, amount: int, raws: list[str] | None, options: bytes = b"") -> dict:
    _, public = keypair()
    now = int(time.time() * 1000)
    bid = Bid(txn_hash=tx_hash.removeprefix("0x"), bid_amt=amount, block_number=block, decay_start=now - 1000,
              decay_end=now + 30_000, slash_amt=amount // 2, bidder_pk_x=public[0], bidder_pk_y=public[1],
              bid_options=options)
    doc = SignedBid.sign(bid, BIDDER, CHAIN_ID, CONTRACT).to_json()
    if raws:
        doc["rawTransactions"] = raws
    record = c.send_preconf_bid(doc)
    assert record["status"] == "committed", record
    return record


def wait_for(fn, timeout: float = 60.0):
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        got = fn()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError("timed out")


def open_block(c: Client) -> int:
    """The open slot (block number ≥ 1), with more than 2 s left to bid in it."""
    wait_for(lambda: c.slot()["slot"] >= 1 and c.slot()["deadline_ms"] / 1000 - time.time() > 2.0)
    return c.slot()["slot"]


def slot_doc(url: str, slot: int) -> dict | None:
    r = httpx.get(f"{url}/v1/slots/{slot}", timeout=5)
    doc = r.json() if r.status_code == 200 else None
    d = (doc or {}).get("delivery") or {}
    return doc if d.get("status") == "mined" and d.get("verification") is not None else None


def test_commitments_bind_the_mined_block_and_settle_on_chain(tmp_path):
    with Anvil() as node:
        rpc = node.client()
        # The first service reaches the node through a relay that kills it (SIGKILL) as it
        # asks for the target block's receipts to settle it: mined, verified, not settled.
        holder: list[ServerProcess] = []
        proxy = CuttingProxy(node.url, after=1, cut=lambda: holder[0].kill9(), match=b"never matches")
        srv = serve(tmp_path, proxy.url, "first").start()
        holder.append(srv)
        try:
            stale_key, kept_key = DEV_KEYS[3], DEV_KEYS[2]
            nonce = rpc.nonce(secp256k1.address_of(stale_key))
            stale_raw = transfer(stale_key, nonce, "0x" + "22" * 20)
            stale_hash = transactions.decode(bytes.fromhex(stale_raw[2:])).hash
            with Client(srv.url, Signer.random()) as c:
                # another transaction with the same nonce, mined in the block before the target
                first = c.slot()["slot"]
                c.call("eth_sendRawTransaction", [transfer(stale_key, nonce, "0x" + "23" * 20, tip=2 * 10**9)])
                wait_for(lambda: slot_doc(srv.url, first))
                target = wait_for(lambda: c.slot()["slot"] == first + 1 and first + 1)
                time.sleep(2 * SLOT)  # empty deadlines: the next block is postponed, still the same number
                # then send right after a (postponed) deadline, well before the block's last auction
                wait_for(lambda: c.slot()["deadline_ms"] / 1000 - time.time() > SLOT - 0.8)
                assert c.slot()["slot"] == target
            with Client(srv.url, Signer.random()) as c, Client(srv.url) as p:
                kept_raw = transfer(kept_key, rpc.nonce(secp256k1.address_of(kept_key)), "0x" + "21" * 20)
                kept_hash = transactions.decode(bytes.fromhex(kept_raw[2:])).hash
                amount = 21_000 * PER_GAS * 10
                kept = preconf(p, kept_hash, target, amount, [kept_raw])
                stale = preconf(p, stale_hash, target, amount, [stale_raw])
                never = preconf(p, "0x" + "77" * 32, target, amount, None)
                public_key = bytes.fromhex("8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba")
                public_raw = transfer(public_key, rpc.nonce(secp256k1.address_of(public_key)), "0x" + "24" * 20)
                public_hash = transactions.decode(bytes.fromhex(public_raw[2:])).hash
                hashed = preconf(p, public_hash, target, amount, None)
                c.call("eth_sendRawTransaction", [public_raw])  # after the commitment: matched at the deadline
                # a bundle spending the same nonce pays more: without the commitment it would win
                rival_raw = transfer(public_key, rpc.nonce(secp256k1.address_of(public_key)), "0x" + "25" * 20,
                                     tip=20 * 10**9)
                rival_hash = transactions.decode(bytes.fromhex(rival_raw[2:])).hash
                c.send_bundle([rival_raw], target)
                # a regular bundle for the target, and a builder whose block leaves the commitment out
                bundle = c.send_bundle([transfer(DEV_KEYS[0], rpc.nonce(secp256k1.address_of(DEV_KEYS[0])),
                                                 "0x" + "11" * 20, tip=5 * 10**9)], target)
            with Client(srv.url, BUILDER) as b:
                b.send_builder_bid(target, bid=10**16, block=[bundle])
            proxy.match = kept_hash.encode()  # only settlement asks for this receipt
            assert proxy.cut_done.wait(60), "the service never came to settle the block"
            srv = serve(tmp_path, node.url, "second").start()
            doc = wait_for(lambda: slot_doc(srv.url, target))
            block = rpc.block(target, full=True)
            hashes = [t["hash"] for t in block["transactions"]]
            assert set(hashes[:2]) == {kept_hash, public_hash}, "the committed transactions open the mined block"
            assert doc["delivery"]["verification"]["ok"], doc["delivery"]["verification"]
            assert stale_hash not in hashes and rival_hash not in hashes
            assert doc["winner"] == "default"
            [builder] = doc["builders"]
            assert not builder["valid"] and "omits committed bundle" in builder["reason"]
            committed = {m["order"]: m for m in doc["commitments"]}
            assert sum(m["included"] for m in committed.values()) == 2
            [mine] = [o for o, m in committed.items() if m["included"] and o.startswith("preconf:" +
                      kept["messages"][0]["commitmentDigest"][:16])]
            paid = doc["searchers"][mine]
            assert int(paid["bid"]) == int(paid["refund"]) > 0, "its tip to the coinbase is paid back"
            with Client(srv.url) as c:
                report = wait_for(lambda: settlement(c, target))
                outcome = {o["bidKey"]: o for o in report["commitments"]}
                k = outcome[kept["bidDigest"] + kept["bidSignature"]]
                assert k["outcome"] == "reward"
                assert outcome[hashed["bidDigest"] + hashed["bidSignature"]]["outcome"] == "reward"
                dispatch = kept["messages"][0]["dispatchTimestamp"]
                bid = kept["messages"][0]["bid"]
                share = residual(bid["decayStartTimeStamp"], bid["decayEndTimeStamp"], dispatch)
                decayed = amount * share // ONE_HUNDRED_PERCENT
                assert int(k["provider_payout"]) + int(k["protocol_fee"]) == decayed < amount
                for broken in (stale, never):
                    o = outcome[broken["bidDigest"] + broken["bidSignature"]]
                    assert o["outcome"] == "slash" and int(o["slash_to_bidder"]) == amount // 2
                # the ledger balances: each bid's escrow fully spent or released, slashes from the stake
                for o in report["commitments"]:
                    flows = [e for e in report["ledger"] if e["commitmentDigest"] == o["commitmentDigest"]]
                    assert sum(int(e["amount"]) for e in flows if e["from"].startswith("escrow:")) == amount
                    assert sum(int(e["amount"]) for e in flows if e["from"].startswith("stake:")) == \
                        int(o["stake_taken"])
                # the slot's published document shows each commitment's settled outcome
                published = httpx.get(f"{srv.url}/v1/slots/{target}", timeout=5).json()["preconf_settlement"]
                assert sorted(o["outcome"] for o in published["commitments"]) == ["reward", "reward", "slash", "slash"]
                assert published["ledger"] == report["ledger"]
                deposit = c.call("preconf_getDeposit", [BIDDER.address])
                h = hashed["messages"][0]
                decayed_h = amount * residual(h["bid"]["decayStartTimeStamp"], h["bid"]["decayEndTimeStamp"],
                                              h["dispatchTimestamp"]) // ONE_HUNDRED_PERCENT
                assert deposit["escrowed"] == "0" and int(deposit["available"]) == DEPOSIT - decayed - decayed_h
        finally:
            srv.stop()
            proxy.close()
        # restart: the same settlement, the same deposits, nothing settled twice
        srv = serve(tmp_path, node.url, "third").start()
        try:
            with Client(srv.url) as c:
                again = c.call("preconf_getSettlement", [target])
                assert {o["bidKey"]: o["outcome"] for o in again["commitments"]} == \
                    {o["bidKey"]: o["outcome"] for o in report["commitments"]}
                assert c.call("preconf_getDeposit", [BIDDER.address]) == deposit
        finally:
            srv.stop()
