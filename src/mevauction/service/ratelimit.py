"""Per-signer token buckets: ``rate`` requests a second on average, bursts up to ``burst``."""

from __future__ import annotations

import time

MAX_TRACKED = 100_000


class RateLimiter:
    def __init__(self, rate: float, burst: int):
        self.rate = rate
        self.burst = float(burst)
        self.buckets: dict[str, tuple[float, float]] = {}

    def allow(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        tokens, last = self.buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if len(self.buckets) >= MAX_TRACKED and key not in self.buckets:
            self._forget_full(now)
        if tokens < 1.0:
            self.buckets[key] = (tokens, now)
            return False
        self.buckets[key] = (tokens - 1.0, now)
        return True

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled: they carry no state worth keeping."""
        self.buckets = {k: (t, last) for k, (t, last) in self.buckets.items()
                        if t + (now - last) * self.rate < self.burst}
