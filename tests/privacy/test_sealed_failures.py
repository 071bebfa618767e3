"""Failure behaviour of the committee: cheating bidders, duplicates, late bids, a killed server."""

import asyncio

import pytest
from sealed_helpers import forged

from mevauction.privacy.client import (
    LocalCommittee,
    Sealed,
    SealedBid,
    agreed_outcome,
    new_auction_id,
    seal,
)
from mevauction.privacy.field import BID_BITS, MODULUS, bits_of, share

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def committee():
    with LocalCommittee(3) as c:
        yield c


def bit_shares(bits: list[int]) -> list[list[int]]:
    """Per server, the shares of each of the given (possibly non-)bits, then the check masks."""
    columns = [share(b % MODULUS, 3) for b in bits] + [share(12345, 3), share(0, 3, 2)]
    return [[c[j] for c in columns] for j in range(3)]


def cheater(auction: str, bidder: str, bits: list[int], tamper=None, headers_differ=False) -> Sealed:
    per_server = bit_shares(bits)
    if tamper is not None:
        tamper(per_server)
    return forged(auction, bidder, per_server, headers_differ)


async def auction(committee, mechanism, sealed_fn, *, after_close=None, kill=None, kill_delay=None):
    auction_id = new_auction_id()
    async with committee.coordinator() as co:
        await co.open({"auction": auction_id, "mechanism": mechanism, "max_bids": 128})
        reasons = await co.submit(sealed_fn(auction_id))
        await co.wait_ready(auction_id)
        if kill is not None and kill_delay is None:  # killed after the bids, before the deadline
            committee.kill(kill)
            statements, _ = await co.close(auction_id)
        elif kill is not None:  # killed while the committee computes
            close = asyncio.ensure_future(co.close(auction_id))
            await asyncio.sleep(kill_delay)
            committee.kill(kill)
            statements, _ = await close
        else:
            statements, _ = await co.close(auction_id)
        late = None
        if after_close is not None:
            late = await co.submit([after_close(auction_id)])
    return reasons, statements, late


def honest(auction_id, values):
    return [seal(auction_id, SealedBid(f"honest{i}", [v]), 3) for i, v in enumerate(values)]


@pytest.mark.parametrize("mechanism,expected", [
    ("second", {"winner": "honest1", "price": 600, "winners": ["honest1"]}),
    ("first", {"winner": "honest1", "price": 700, "winners": ["honest1"]}),
    ("builder", {"winner": "honest1", "price": 650, "winners": ["honest1"]}),
])
def test_cheating_bidders_are_excluded_never_awarded(committee, mechanism, expected):
    values = [500, 700, 600]
    reserve_bid = SealedBid("reserve", [650], side="reserve", key=committee.control_key)  # the auctioneer's
    reserve = lambda a: [seal(a, reserve_bid, 3)] if mechanism == "builder" else []
    # 2^64 + 900 spelt with a "bit" worth 2 at the top; and −5 as a field element.
    out_of_range = lambda a: cheater(a, "too-big", [*bits_of(900)[:-1], 2])
    wraps_negative = lambda a: cheater(a, "negative", [MODULUS - 5] + [0] * (BID_BITS - 1))

    def bump(per_server):
        per_server[2][5] = (per_server[2][5] + 1) % MODULUS

    inconsistent = lambda a: cheater(a, "inconsistent", bits_of(10**18), tamper=bump)
    split_header = lambda a: cheater(a, "two-faced", bits_of(900), headers_differ=True)
    sealed = lambda a: reserve(a) + honest(a, values) + [
        out_of_range(a), wraps_negative(a), inconsistent(a), split_header(a)]
    reasons, statements, _ = asyncio.run(auction(committee, mechanism, sealed))
    assert all(r is None for r in reasons)
    outcome, why = agreed_outcome(statements)
    assert outcome == expected, why
    excluded = {x["bidder"]: x["reason"] for x in statements[0]["excluded"]}
    assert excluded == {"too-big": "value out of range", "negative": "value out of range",
                        "inconsistent": "inconsistent shares",
                        "two-faced": "shares did not reach every server with the same header"}


def test_duplicate_late_and_badly_signed_bids_are_rejected_with_a_reason(committee):
    def sealed(a):
        first = seal(a, SealedBid("alice", [5]), 3)
        again = seal(a, SealedBid("alice", [9]), 3)
        tampered = seal(a, SealedBid("bob", [7]), 3)
        for p in tampered.payloads:
            p["header"] = {**p["header"], "commitment": "0x" + "00" * 32}
        wrong_share = seal(a, SealedBid("carol", [3]), 3)
        wrong_share.payloads[1]["shares"][0] = hex(12345)
        return [first, first, again, tampered, wrong_share]

    late = lambda a: seal(a, SealedBid("dave", [99]), 3)
    reasons, statements, late_reasons = asyncio.run(auction(committee, "first", sealed, after_close=late))
    assert reasons[0] is None
    assert "duplicate" in reasons[1] and "already received" in reasons[1]
    assert "duplicate" in reasons[2] and "alice already bid" in reasons[2]
    assert "bad signature" in reasons[3]
    assert "server 1" in reasons[4] and "does not match its hash" in reasons[4]
    assert "late" in late_reasons[0]
    outcome, _ = agreed_outcome(statements)
    # carol's shares reached only two servers with a valid hash: excluded at agreement.
    assert outcome == {"winner": "alice", "price": 5, "winners": ["alice"]}


@pytest.mark.parametrize("kill_delay", [None, 0.01])
def test_killed_server_aborts_cleanly_without_revealing_anything(kill_delay):
    values = list(range(100, 164))
    with LocalCommittee(3, timeout=20) as committee:
        sealed = lambda a: honest(a, values)
        _, statements, _ = asyncio.run(auction(committee, "second", sealed, kill=2, kill_delay=kill_delay))
        outcome, why = agreed_outcome(statements)
        survivors = [s for s in statements if isinstance(s, dict)]
        right = {"winner": "honest63", "price": 162, "winners": ["honest63"]}
        if kill_delay is not None and all(s["status"] == "ok" for s in survivors):
            # The computation finished before the kill: what was published is complete and right.
            assert all(s["outcome"] == right for s in survivors)
            return
        assert outcome is None
        assert "server 2" in why
        assert survivors and all(s["status"] == "aborted" and "outcome" not in s for s in survivors)
        assert any("lost connection to server 2" in s["reason"] for s in survivors)


def test_stream_excludes_out_of_range_bids_and_keeps_the_maximum(committee):
    def sealed(a):
        return [seal(a, SealedBid("b0", [5]), 3), cheater(a, "huge", [0] * (BID_BITS - 1) + [3]),
                seal(a, SealedBid("b2", [9]), 3), cheater(a, "neg", [MODULUS - 1] * BID_BITS),
                seal(a, SealedBid("b4", [7]), 3)]

    _, statements, _ = asyncio.run(auction(committee, "stream", sealed))
    outcome, why = agreed_outcome(statements)
    assert outcome == {"winner": "b2", "price": 9, "winners": ["b2"]}, why
    assert {x["bidder"] for x in statements[0]["excluded"]} == {"huge", "neg"}


def test_local_committee_servers_exit_when_their_parent_is_killed(tmp_path):
    """A process holding a LocalCommittee dies by SIGKILL: its servers do not linger."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from repo_paths import SRC

    script = tmp_path / "holder.py"
    script.write_text(
        "import sys, time\n"
        "from mevauction.privacy.client import LocalCommittee\n"
        "c = LocalCommittee(3).start()\n"
        "print(' '.join(str(p.pid) for p in c.procs), flush=True)\n"
        "time.sleep(600)\n")
    holder = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(SRC)})
    pids: list[int] = []
    try:
        pids = [int(p) for p in holder.stdout.readline().split()]
        assert len(pids) == 3
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        deadline = time.monotonic() + 15
        alive = pids
        while alive and time.monotonic() < deadline:
            time.sleep(0.2)
            alive = [p for p in pids if _running(p)]
        assert not alive, f"committee servers still running: {alive}"
    finally:
        holder.kill()
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                continue


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
