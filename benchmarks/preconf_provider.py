"""Provider decision per arriving bid: verify the signature, check the deposit, update the
knapsack, derive the NIKE shared key and sign the commitment (issue 6 target: median ≤ 1 ms,
p99 ≤ 5 ms, ≥ 2,000 commitments/s on one core).

    PYTHONPATH=src /work/venv/bin/python benchmarks/preconf_provider.py [--bids N] [--seed S]

Bids are made and signed beforehand (bidder side, not timed); each timed call is
``ProviderEngine.on_bid`` in continuous mode with a fixed reserve, so every bid that
clears the reserve is committed at once and about one in ten stays pending until its
reject deadline, keeping a live pool in the knapsack. ``--positions F``: that share of
the bids carries a ``bidOptions`` position ask (absolute index 0-2, top 1-10 % of the
transactions, or gas percentile 5-50), so the position-capacity check
(preconf/capacity.py) runs on every decision of a block that holds one, and many of them
clash (refused as ``position-unavailable``).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from rich.progress import track

from mevauction.preconf import bidoptions, nike
from mevauction.preconf.deposits import DepositLedger
from mevauction.preconf.keys import Signer
from mevauction.preconf.messages import Bid, Commitment, SignedBid
from mevauction.preconf.params import AuctionParameters
from mevauction.preconf.policy import ReservePolicy
from mevauction.preconf.provider import Arrival, ProviderEngine

CHAIN_ID = 17864
CONTRACT = "0x3761bF3932cD22d684A7485002E1424c3aCCD69c"
SLOT_MS = 12_000
GWEI = 10**9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bids", type=int, default=5000)
    parser.add_argument("--bidders", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--positions", type=float, default=0.0, help="share of bids with a position ask")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    provider = Signer(rng.getrandbits(255) | 1)
    bidders = [Signer(rng.getrandbits(255) | 1) for _ in range(args.bidders)]
    ledger = DepositLedger()
    for b in bidders:
        ledger.deposit(b.address, provider.address, 10**24)
    params = AuctionParameters(provider.address, CHAIN_ID, CONTRACT, ((SLOT_MS, 15_000_000), (0, 15_000_000)),
                               ReservePolicy("fixed", 2 * GWEI), reject_within_ms=2000, mode="continuous")
    nike_secret, _ = nike.keypair()
    engine = ProviderEngine(provider, nike_secret, params, ledger, lambda n: n * SLOT_MS)

    arrivals = []
    for i in track(range(args.bids), description="signing bids (bidder side, untimed)"):
        now = SLOT_MS + i * 100  # one bid every 100 ms of simulated time: ~120 per block
        block = now // SLOT_MS + 1
        gas = rng.choice((21_000, 60_000, 150_000, 300_000))
        per_gas = rng.choice((1, 3, 4, 5, 6, 8, 10, 12, 15, 20)) * GWEI  # ~10 % under the reserve
        _, pk = nike.keypair()
        options = b""
        if rng.random() < args.positions:
            basis, value = rng.choice(((2, 0), (2, 1), (2, 2), (1, 1), (1, 5), (1, 10), (3, 5), (3, 20), (3, 50)))
            options = bidoptions.encode([bidoptions.PositionConstraint(anchor=1, basis=basis, value=value)])
        bid = Bid(txn_hash=f"{rng.getrandbits(256):064x}", bid_amt=per_gas * gas, block_number=block,
                  decay_start=now, decay_end=now + 4000, bidder_pk_x=pk[0], bidder_pk_y=pk[1], bid_options=options)
        signer = rng.choice(bidders)
        arrivals.append(Arrival(SignedBid.sign(bid, signer, CHAIN_ID, CONTRACT), provider.address, gas, now,
                                signer.address))

    latencies = []
    cpu_latencies = []
    committed = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    for arrival in arrivals:
        t0, c0 = time.perf_counter_ns(), time.process_time_ns()
        out = engine.on_bid(arrival)
        latencies.append(time.perf_counter_ns() - t0)
        cpu_latencies.append(time.process_time_ns() - c0)
        committed += sum(isinstance(m, Commitment) for m in out)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start

    latencies.sort()
    ms = [x / 1e6 for x in latencies]
    p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
    refused = sum(r.reason == "position-unavailable" for r in engine.rejects)
    print(f"bids: {len(ms)}  committed: {committed}  rejected: {len(engine.rejects)}  "
          f"(position-unavailable: {refused})")
    print(f"per-bid decision  median {statistics.median(ms):.3f} ms   p99 {p99:.3f} ms   max {ms[-1]:.3f} ms")
    print(f"throughput        {committed / wall:,.0f} commitments/s   {len(ms) / wall:,.0f} bids/s (one core)")
    # CPU time of this process: what one core spends, however busy the machine is (on a
    # shared machine wall time also counts the time other processes hold the core).
    cpu_ms = sorted(x / 1e6 for x in cpu_latencies)
    print(f"cpu time          median {statistics.median(cpu_ms):.3f} ms   "
          f"{committed / cpu:,.0f} commitments per CPU-second")
    print("targets           median <= 1 ms, p99 <= 5 ms, >= 2,000 commitments/s")
    breakdown(arrivals[:500], provider, nike_secret)


def breakdown(arrivals: list[Arrival], provider: Signer, nike_secret: int) -> None:
    """Mean cost of the parts of one commitment, to show where the time goes."""
    def mean_us(fn) -> float:
        t0 = time.perf_counter()
        for a in arrivals:
            fn(a)
        return (time.perf_counter() - t0) / len(arrivals) * 1e6

    verify = mean_us(lambda a: a.signed_bid.bidder())
    shared = mean_us(
        lambda a: nike.shared_key(nike_secret, (a.signed_bid.bid.bidder_pk_x, a.signed_bid.bid.bidder_pk_y))
    )
    sign = mean_us(lambda a: Commitment.make(a.signed_bid, (1, 2), provider, 0))
    print(f"breakdown (mean)  verify bid {verify:.0f} us   BN254 shared key {shared:.0f} us   "
          f"commitment digest+sign {sign:.0f} us")


if __name__ == "__main__":
    main()
