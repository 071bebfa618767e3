"""The service's sealed builders' auction alone, 2PC pair vs MPC committee, same run.

What ``settle.committee_auction`` runs at a slot's deadline, on the processes ``serve
--sealed`` keeps for its lifetime: open the slot's auction, relay the builders' sealed
bids (sealed beforehand by the SDK functions, 128 bits, each with a cap) and β0, close,
agree — ``relay_builder_auction`` on a local 3-server committee, ``relay_pair_auction`` on a
local garbler/evaluator pair. Runs alternate between the two; medians per size.

    PYTHONPATH=src python benchmarks/sealed_service_auction.py --builders 3 16 --repeat 7
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import sys
import time

from mevauction.privacy import messages
from mevauction.privacy.builder_auction import SealedSlot, relay_builder_auction, seal_builder_bid
from mevauction.privacy.client import LocalCommittee
from mevauction.privacy.twoparty import relay
from mevauction.privacy.twoparty.local import LocalPair


def bids_for(seal, info: dict, n: int, rng: random.Random) -> tuple[dict, dict, list[int]]:
    keys = [messages.new_key() for _ in range(n)]
    amounts = [rng.randrange(10**17, 30 * 10**18) for _ in range(n)]
    bids = {f"b{i}": seal(info, k, a) for i, (k, a) in enumerate(zip(keys, amounts, strict=True))}
    return bids, {b: 10**24 for b in bids}, amounts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builders", type=int, nargs="+", default=[3, 16])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(1)
    reserve = 2 * 10**18
    committee = LocalCommittee(3, control_key=messages.new_key()).start()
    pair = LocalPair(timeout=relay.TIMEOUT_S, hold=False).__enter__()
    try:
        members = committee.member_keys()
        chans = relay.connect(relay.PairSlot(pair.tls_dir, pair.control, "", [], []))
        described = relay.info(chans)
        for c in chans:
            c.close()
        pair_keys, signers = [d["encryption_key"] for d in described], [d["signer"] for d in described]
        for n in args.builders:
            times: dict[str, list[float]] = {"mpc": [], "2pc": []}
            for _ in range(args.repeat):
                auction = "slot-" + secrets.token_hex(8)
                bids, caps, amounts = bids_for(seal_builder_bid, {"auction": auction, "members": members}, n, rng)
                slot = SealedSlot(committee.access(), auction, members, bids, caps)
                t0 = time.perf_counter()
                mpc = asyncio.run(relay_builder_auction(slot, reserve, list(bids)))
                times["mpc"].append(time.perf_counter() - t0)
                info = {"auction": auction, "members": pair_keys}
                bids, caps, amounts2 = bids_for(relay.seal_pair_builder_bid, info, n, random.Random(amounts[0]))
                pslot = relay.PairSlot(pair.tls_dir, pair.control, auction, pair_keys, signers, bids, caps)
                t0 = time.perf_counter()
                two = relay.relay_pair_auction(pslot, reserve, list(bids))
                times["2pc"].append(time.perf_counter() - t0)
                best = max(range(n), key=lambda i: (amounts2[i], -i))
                assert two.winner == f"b{best}", (two, amounts2)
                assert mpc.winner == f"b{max(range(n), key=lambda i: (amounts[i], -i))}", mpc
            m, t = (statistics.median(times[b]) for b in ("mpc", "2pc"))
            print(f"{n:3d} builders: deadline → result median mpc {1000 * m:.0f} ms, 2pc {1000 * t:.0f} ms "
                  f"(min {1000 * min(times['mpc']):.0f} / {1000 * min(times['2pc']):.0f} ms), "
                  f"2pc/mpc {t / m:.2f}, load {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        committee.stop()
        pair.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
