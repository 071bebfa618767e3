"""The slot clock: slot n is open for orders during [genesis + n·S, genesis + (n+1)·S).

The end of that interval is slot n's intake deadline; the auction for n runs right
after it while slot n+1 is already taking orders. Genesis and S are stored in the
database, so a restarted service keeps numbering slots where it left off; when S
changes, genesis is moved so that numbering continues without reusing a slot.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SlotClock:
    genesis: float
    slot_seconds: float
    # On a chain: the next block's number (head + 1). No later slot opens before that
    # block exists, however much time passes (serve --chain; service/onchain.py).
    ceiling: int | None = None

    def slot_at(self, t: float) -> int:
        return math.floor((t - self.genesis) / self.slot_seconds)

    def current(self) -> int:
        slot = self.slot_at(time.time())
        return slot if self.ceiling is None else min(slot, self.ceiling)

    def start(self, slot: int) -> float:
        return self.genesis + slot * self.slot_seconds

    def deadline(self, slot: int) -> float:
        return self.genesis + (slot + 1) * self.slot_seconds

    def timestamp(self, slot: int) -> int:
        """The block timestamp of ``slot`` (bundles' min/maxTimestamp): its deadline, when
        the block is built, in whole seconds."""
        return math.floor(self.deadline(slot))


def resume_clock(stored_genesis: float | None, stored_seconds: float | None, slot_seconds: float,
                 now: float | None = None) -> SlotClock:
    """The clock to run with, given what the database remembers (None: a new database)."""
    now = time.time() if now is None else now
    if stored_genesis is None or stored_seconds is None:
        return SlotClock(now, slot_seconds)
    if stored_seconds == slot_seconds:
        return SlotClock(stored_genesis, slot_seconds)
    old = SlotClock(stored_genesis, stored_seconds)
    next_slot = old.slot_at(now) + 1
    return SlotClock(now - next_slot * slot_seconds, slot_seconds)
