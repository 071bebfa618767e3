"""What ``/healthz`` reports beyond "the database answers": failures of writes and settlement.

The service is *degraded* while a failure is recent (``DEGRADED_SECONDS``): a write that
did not become durable (an order or cancel not acknowledged, a slot's records refused),
a slot recorded as failed, or an order excluded because it broke settlement. ``/healthz``
then answers HTTP 200 with ``"status": "degraded"`` and the counts — the service still
takes orders, so a load balancer should keep sending them — never ports or process ids.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

DEGRADED_SECONDS = 600.0


@dataclass(slots=True)
class Health:
    writes_failed: int = 0
    slots_failed: int = 0
    orders_excluded_for_faults: int = 0
    last_failure: float | None = None  # time.time() of the newest failure

    def _failed(self) -> None:
        self.last_failure = time.time()

    def write_failed(self) -> None:
        self.writes_failed += 1
        self._failed()

    def slot_failed(self) -> None:
        self.slots_failed += 1
        self._failed()

    def order_excluded_for_fault(self) -> None:
        self.orders_excluded_for_faults += 1
        self._failed()

    def degraded(self, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        return self.last_failure is not None and now - self.last_failure < DEGRADED_SECONDS

    def to_json(self) -> dict:
        ago = None if self.last_failure is None else round(time.time() - self.last_failure, 1)
        return {"writes_failed": self.writes_failed, "slots_failed": self.slots_failed,
                "orders_excluded_for_faults": self.orders_excluded_for_faults,
                "seconds_since_last_failure": ago}
