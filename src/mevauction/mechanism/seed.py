"""The slot's internal seed, secret until the deadline (issue 15; docs/mechanism.md "Departures" (b)).

``Select`` and every seeded ordering of the default algorithm rank orders by a hash of
the seed and the order id, and an id is a bundle hash its searcher chooses. With a
known seed a searcher could rename its bundle (change a nonce, add a no-op) until the
hash ranks it where it wants to be. So the service draws a fresh secret seed per
slot, publishes ``seed_commitment(slot, seed)`` while the slot takes orders, and
reveals the seed in the slot's report: anyone can check the commitment and re-run the
default algorithm on the slot's orders with it. A scenario file may give its own seed.
"""

from __future__ import annotations

import hmac

from mevauction.eth.keccak import keccak

SEED_DOMAIN = b"mevauction.seed/1"


def seed_commitment(slot: int, seed: int) -> str:
    """keccak256("mevauction.seed/1:<slot>:<seed>") as 0x-hex (slot and seed in decimal)."""
    return "0x" + keccak(SEED_DOMAIN + f":{slot}:{seed}".encode()).hex()


def seed_matches(slot: int, seed: int, commitment: str) -> bool:
    return hmac.compare_digest(seed_commitment(slot, seed), commitment.lower())


def derive_seed(secret: bytes, slot: int) -> int:
    """The seed of ``slot`` under the service's secret: 128 bits, unguessable without it,
    and the same after a restart (so a published commitment stays true)."""
    return int.from_bytes(keccak(secret + SEED_DOMAIN + slot.to_bytes(8, "big"))[:16], "big")
