"""A large group's seeded shuffles on two cores, with the same result (issue 15, item 4).

The shuffles are ≈ ⅔ of the default algorithm's work on a contested block. Half of
them run in a forked copy of this process (the world, its state and the cursor come
along copy-on-write, so nothing is serialised on the way in: an evm world's pyrevm
state cannot be pickled); the child sends back only the best of its half — a
:class:`~mevauction.building.large.UnionMaximum` — and the parent merges it after its
own half. Ties keep the first offered both within a half and in the merge, which
takes a child's block only when strictly better, exactly what offering its blocks
one by one after the parent's would do: the block, every counterfactual and so every
refund are those of the sequential walk (tested equal). Who computes a half never
depends on a bid (only on the group's size), and a child that fails or dies is
replaced by the parent doing its half itself.

Why fork and not a process pool: a pool needs the world pickled per slot (11–21 ms
for a 400-order amm world, more than the half saves on most groups) and cannot take an
evm world at all. Forking a threaded process (the service) is safe here because the
child only computes on objects this thread owns, writes to a pipe and leaves by
``os._exit`` (no atexit handler, no buffered output, no lock another thread held).
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mevauction.building.large import UnionMaximum
    from mevauction.building.sequences import SequenceRunner

# Sequences timed before deciding, and the least estimated time of the other half worth
# a fork (fork + join measured at 2–5 ms on a 400-order slot's process).
PROBE = 8
MIN_HALF_S = 0.05
JOIN_SLACK_S = 2.0


def enabled() -> bool:
    """Fork only where a second core is free to run the child.

    ``MEVAUCTION_FORK_FAMILY``: ``0`` never, ``1`` whenever there are two cores (tests,
    benchmarks); unset, also only while the 1-minute load leaves a core idle — on a
    saturated machine the child only competes with the parent (measured: 0.81× at
    load 5 on two cores).
    """
    mode = os.environ.get("MEVAUCTION_FORK_FAMILY", "")
    if mode == "0" or not hasattr(os, "fork"):
        return False
    cores = len(os.sched_getaffinity(0))
    if cores < 2:
        return False
    return mode == "1" or os.getloadavg()[0] <= cores - 1


class Forked:
    """``work()`` run in a forked child; ``join()`` gives its pickled result, or None
    if the child raised or died."""

    def __init__(self, work: Callable[[], object]):
        self.read, write = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the child: compute, write, leave without any cleanup
            status = 1
            try:
                os.close(self.read)
                data = pickle.dumps(work(), protocol=pickle.HIGHEST_PROTOCOL)
                with os.fdopen(write, "wb") as out:
                    out.write(data)
                status = 0
            except BaseException:  # any failure: the parent does the work
                pass
            finally:
                os._exit(status)
        os.close(write)

    def join(self, timeout: float) -> object | None:
        """The child's result, or None if it failed or is not done within ``timeout``
        seconds (then it is killed: a child stuck on anything never stalls a slot)."""
        chunks, deadline = [], time.monotonic() + timeout
        with os.fdopen(self.read, "rb", buffering=0) as pipe:
            while True:  # the child may block on a full pipe until this reads
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([pipe], [], [], left)[0]:
                    os.kill(self.pid, signal.SIGKILL)
                    os.waitpid(self.pid, 0)
                    return None
                chunk = pipe.read(1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
        _, status = os.waitpid(self.pid, 0)
        if status != 0 or not chunks:
            return None
        result: object = pickle.loads(b"".join(chunks))
        return result


def offer_blocks(runner: SequenceRunner, sequences: Sequence[Sequence[str]], best: UnionMaximum,
                 counterfactuals: bool) -> None:
    """Offer every sequence's block to ``best``, in order — half of them computed in a
    forked child when that half is worth more than a fork.

    The first ``PROBE`` sequences are run here and timed: a push costs ≈ 0.1 µs in the
    amm world's compiled core and ≈ 100 µs on the evm world, so only the measured cost
    can say whether the other half outweighs a fork (``MIN_HALF_S``). The timing decides
    who computes, never what: the blocks, and so the result, are the same either way.
    """
    half = len(sequences) // 2
    probe = min(PROBE, half)
    started = time.perf_counter()
    for value, included, bids in runner.blocks(sequences[:probe]):
        best.offer(value, included, bids, counterfactuals)
    per_sequence = (time.perf_counter() - started) / max(probe, 1)
    child = None
    if probe and per_sequence * (len(sequences) - half) >= MIN_HALF_S and enabled():
        child = Forked(lambda: _best_of(runner, sequences[half:], best, counterfactuals))
    started = time.perf_counter()
    for value, included, bids in runner.blocks(sequences[probe:half] if child else sequences[probe:]):
        best.offer(value, included, bids, counterfactuals)
    if child is None:
        return
    # The child's half is as much work as this one: waiting 4× as long (and 2 s) for it
    # only ends a child that is stuck, whatever the load.
    theirs = child.join(JOIN_SLACK_S + 4 * (time.perf_counter() - started + probe * per_sequence))
    if theirs is None:  # the child failed: its half here, as if it never forked
        for value, included, bids in runner.blocks(sequences[half:]):
            best.offer(value, included, bids, counterfactuals)
    else:
        best.merge(theirs, counterfactuals)  # type: ignore[arg-type]


def _best_of(runner: SequenceRunner, sequences: Sequence[Sequence[str]], like: UnionMaximum,
             counterfactuals: bool) -> UnionMaximum:
    mine = type(like)(like.members)  # a fresh maximum over the same members
    for value, included, bids in runner.blocks(sequences):
        mine.offer(value, included, bids, counterfactuals)
    return mine
