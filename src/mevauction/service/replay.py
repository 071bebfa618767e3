"""The replay guard: a signed state-changing request counts once, and only while fresh.

``eth_cancelBundle``, ``mev_sendOrder`` and ``mev_sendBuilderBid`` carry a signed
``timestamp`` (unix seconds). The guard refuses one

- outside ``±window`` seconds of the service's clock (stale, or signed in the future);
- signed before this process started (its memory of earlier requests is gone);
- already received: it remembers (signer, keccak256 of the signed body, with the
  request's place in it for a batch) until the request's timestamp leaves the window, so
  a captured request sent again is refused for as long as it would otherwise be fresh.

``eth_sendBundle`` is not guarded: the same bundle sent again is an idempotent
acknowledgement, and an old version of a replaced bundle cannot be revived (the engine's
rule). Errors name ``timestamp``.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable

from mevauction.errors import InputError
from mevauction.eth.keccak import keccak


class ReplayGuard:
    def __init__(self, window_seconds: float, clock: Callable[[], float] = time.time):
        self.window_ms = round(window_seconds * 1000)
        self.clock = clock
        # Whole seconds: a client that signs with int(time.time()) right after a start is fresh.
        self.started_ms = int(clock()) * 1000
        self.seen: set[tuple[str, bytes]] = set()
        self.expiry: list[tuple[int, tuple[str, bytes]]] = []

    def admit(self, signer: str, request: bytes, signed_ms: int) -> None:
        """Accept the request once, or raise :class:`InputError` naming ``timestamp``."""
        now = round(self.clock() * 1000)
        self._forget(now)
        if abs(now - signed_ms) > self.window_ms:
            raise InputError("timestamp", f"{signed_ms / 1000:.3f} is not within ±{self.window_ms / 1000:g} s of "
                                          f"the service's clock ({now / 1000:.3f}); sign with the current time")
        if signed_ms < self.started_ms:
            raise InputError("timestamp", "signed before the service started; sign the request again")
        key = (signer, keccak(request))
        if key in self.seen:
            raise InputError("timestamp", "this signed request was already received; a replay is refused "
                                          "(sign a new request with a new timestamp)")
        self.seen.add(key)
        heapq.heappush(self.expiry, (signed_ms + self.window_ms, key))

    def _forget(self, now: int) -> None:
        """Drop requests whose timestamps are out of the window: they are refused as stale."""
        while self.expiry and self.expiry[0][0] < now:
            self.seen.discard(heapq.heappop(self.expiry)[1])
