"""Preconfirmations settle without a chain (issue 14): ``mevauction serve`` with no
``--chain`` delivers each slot's final block as its report, and its commitments are
settled against that block by the oracle's rule at once — escrow is spent or released,
so a bidder's held escrow does not grow slot after slot. Hash-only commitments are
matched against the public transactions the service received (``eth_sendRawTransaction``),
even when the transaction arrives after the commitment."""

import time

import httpx
import pytest
from service_harness import ServerProcess
from test_service_preconf import CHAIN_ID, CONTRACT, DEPOSIT, FUNDED, RESERVE_PER_GAS, preconf_env, settlement

from mevauction.client import Client
from mevauction.client.sdk import signed_transfer
from mevauction.eth import transactions
from mevauction.eth.keccak import keccak as keccak256
from mevauction.preconf import bidoptions
from mevauction.preconf.decay import ONE_HUNDRED_PERCENT, residual
from mevauction.preconf.messages import Bid, SignedBid
from mevauction.preconf.nike import keypair

pytestmark = pytest.mark.slow  # starts a service process
SENDER = keccak256(b"no-chain public sender")
SLOTS = 3


def bid_for(block: int, tx_hash: str, amount: int, position: bidoptions.PositionConstraint | None = None) -> dict:
    _, public = keypair()
    now = int(time.time() * 1000)
    options = bidoptions.encode([position]) if position is not None else b""
    bid = Bid(txn_hash=tx_hash.removeprefix("0x"), bid_amt=amount, block_number=block, decay_start=now - 500,
              decay_end=now + 20_000, slash_amt=amount // 4, bidder_pk_x=public[0], bidder_pk_y=public[1],
              bid_options=options)
    return SignedBid.sign(bid, FUNDED, CHAIN_ID, CONTRACT).to_json()


def positioned(block: int, sender: bytes, to: str, amount: int,
               position: bidoptions.PositionConstraint | None) -> dict:
    """A signed bid with its raw transaction (a transfer from ``sender``), asking for ``position``."""
    raw = signed_transfer(sender, 0, to, tip=1)
    doc = bid_for(block, transactions.decode(bytes.fromhex(raw[2:])).hash, amount, position)
    return {**doc, "rawTransactions": [raw]}


def open_block(c: Client) -> int:
    """The open slot, with at least 0.9 s left to bid in it."""
    while (slot := c.slot())["slot"] < 1 or slot["deadline_ms"] / 1000 - time.time() < 0.9:
        time.sleep(0.05)
    return slot["slot"]


def settled(c: Client, block: int, timeout: float = 30.0) -> dict | None:
    give_up = time.monotonic() + timeout
    while (report := settlement(c, block)) is None and time.monotonic() < give_up:
        time.sleep(0.2)
    return report


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


@pytest.fixture
def positions_server(tmp_path):
    srv = ServerProcess(f"sqlite:///{tmp_path / 'svc.db'}", slot_seconds=1.5, env=preconf_env(),
                        log=tmp_path / "svc.log").start()
    yield srv
    srv.stop()


def test_position_constraints_are_planned_and_judged_by_the_oracle_rule(positions_server):
    """Four committed bundles for one block, each with its raw transaction; D (no position)
    is signed first, then A (absolute: index 0), B (top 50 % of the transactions), C (top
    10 %). Commitment-first layout: the bundles asking for a position open the block in
    signing order, D after them — A 0, B 1, C 2, D 3 of n = 4. The block honours A
    (0 ≤ 0), B (1 ≤ 4·50 // 100) and D, and breaks C (2 > 4·10 // 100): settlement, by
    the oracle's rule on the delivered block, rewards A, B, D and slashes C, and the slot's
    report names C's broken position."""
    srv, amount = positions_server, 21_000 * RESERVE_PER_GAS * 2
    with Client(srv.url) as c:
        block = open_block(c)
        records = {}
        for name, basis, value in [("D", None, 0), ("A", 2, 0), ("B", 1, 50), ("C", 1, 10)]:
            position = None if basis is None else bidoptions.PositionConstraint(anchor=1, basis=basis, value=value)
            records[name] = c.send_preconf_bid(positioned(block, keccak256(b"position sender " + name.encode()),
                                                          "0x" + "51" * 20, amount, position))
            assert records[name]["status"] == "committed", records[name]
        report = settled(c, block)
        assert report is not None and report["balanced"] is True
        outcome = {o["bidKey"]: o["outcome"] for o in report["commitments"]}
        got = {name: outcome[r["bidDigest"] + r["bidSignature"]] for name, r in records.items()}
        assert got == {"A": "reward", "B": "reward", "C": "slash", "D": "reward"}
        planned = {m["commitment"]: m for m in httpx.get(f"{srv.url}/v1/slots/{block}", timeout=5).json()
                   ["commitments"]}
        at = {name: planned[r["messages"][0]["commitmentDigest"]] for name, r in records.items()}
        assert {name: m["index"] for name, m in at.items()} == {"A": 0, "B": 1, "C": 2, "D": 3}
        assert [name for name, m in at.items() if m["reason"]] == ["C"]


def test_two_bids_for_index_0_the_second_is_refused_and_nothing_is_slashed(positions_server):
    """Two bundles for one block both ask for absolute index 0. Only one can open the block,
    so the provider signs a ``position-unavailable`` reject for the second (before this it
    committed both, and settlement slashed the one placed second); settlement by the
    oracle's rule then rewards the one committed and slashes nothing. In the next block A
    asks index ≤ 5 first, then B index 0: both are committed (the capacity check was greedy
    in acceptance order and refused B) and the block opens B, A — both rewarded. In a third
    block, thin (its two commitments only), B (index ≤ 5) is signed before C (top 10 %):
    in signing order C sits at index 1 > 2·10 // 100 and was slashed; the layout prefers an
    order the thinnest block keeps, C, B — both rewarded."""
    srv, amount = positions_server, 21_000 * RESERVE_PER_GAS * 2
    with Client(srv.url) as c:
        block = open_block(c)
        index_0 = bidoptions.PositionConstraint(anchor=1, basis=2, value=0)
        records = [c.send_preconf_bid(positioned(block, keccak256(b"index 0 sender " + name.encode()),
                                                 "0x" + "52" * 20, amount, index_0))
                   for name in ("first", "second")]
        assert records[0]["status"] == "committed", records[0]
        assert records[1]["status"] == "rejected", records[1]
        assert records[1]["messages"][-1]["reason"] == "position-unavailable"
        report = settled(c, block)
        assert report is not None and report["balanced"] is True
        assert [o["outcome"] for o in report["commitments"]] == ["reward"]
        deposit = c.call("preconf_getDeposit", [FUNDED.address])
        assert deposit["escrowed"] == "0"
        block = open_block(c)
        asks = [("A", bidoptions.PositionConstraint(anchor=1, basis=2, value=5)),
                ("B", bidoptions.PositionConstraint(anchor=1, basis=2, value=0))]
        records = {name: c.send_preconf_bid(positioned(block, keccak256(b"reorder sender " + name.encode()),
                                                       "0x" + "53" * 20, amount, ask)) for name, ask in asks}
        assert [r["status"] for r in records.values()] == ["committed", "committed"], records["B"]
        report = settled(c, block)
        assert report is not None and report["balanced"] is True
        assert [o["outcome"] for o in report["commitments"]] == ["reward", "reward"]
        planned = {m["commitment"]: m["index"] for m in httpx.get(f"{srv.url}/v1/slots/{block}", timeout=5).json()
                   ["commitments"]}
        assert {n: planned[r["messages"][0]["commitmentDigest"]] for n, r in records.items()} == {"A": 1, "B": 0}
        block = open_block(c)
        asks = [("B", bidoptions.PositionConstraint(anchor=1, basis=2, value=5)),
                ("C", bidoptions.PositionConstraint(anchor=1, basis=1, value=10))]
        records = {name: c.send_preconf_bid(positioned(block, keccak256(b"thin sender " + name.encode()),
                                                       "0x" + "54" * 20, amount, ask)) for name, ask in asks}
        assert [r["status"] for r in records.values()] == ["committed", "committed"], records
        report = settled(c, block)
        assert report is not None and report["balanced"] is True
        assert [o["outcome"] for o in report["commitments"]] == ["reward", "reward"]
