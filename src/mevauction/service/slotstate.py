"""The auctioneer's in-memory slots: each open slot's orders and builder bids, as the
engine holds them between intake and the deadline (the durable copy is in the store)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class OrderEntry:
    id: str
    kind: str
    signer: str
    uuid: str | None
    scenario_order: dict  # its "id" is the order's scenario id
    seq: int
    received_ms: int
    status: str = "pending"
    durable: asyncio.Future | None = None

    @property
    def key(self) -> str:
        """The order's id in the slot's scenario."""
        return self.scenario_order["id"]


@dataclass(slots=True)
class SlotState:
    slot: int
    orders: dict[tuple[str, str], OrderEntry] = field(default_factory=dict)  # keyed by (signer, id)
    scenario_ids: set[str] = field(default_factory=set)
    builders: dict[str, dict] = field(default_factory=dict)
    builder_times: dict[str, int] = field(default_factory=dict)
    commitments: dict[str, str | None] = field(default_factory=dict)
    builder_signed: dict[str, int] = field(default_factory=dict)  # signed timestamp (ms) of each bid
    closed: bool = False
    inflight: int = 0
    drained: asyncio.Event = field(default_factory=asyncio.Event)


def now_ms() -> int:
    return int(time.time() * 1000)


def scenario_id_for(state: SlotState, order_id: str, signer: str) -> str:
    """The order's id in the slot's scenario: its own, unless another signer's order in
    the slot has that id; then the id tagged with the signer (and a counter if needed)."""
    if order_id not in state.scenario_ids:
        return order_id
    base = f"{order_id}~{signer[2:10]}"
    candidate, n = base, 1
    while candidate in state.scenario_ids:
        n += 1
        candidate = f"{base}~{n}"
    return candidate
