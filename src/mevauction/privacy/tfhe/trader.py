"""A trader's side of the TFHE double auction (main venv): seal its own curve, no key held.

``submit_curve`` splits every bit of the trader's per-level increments (``shares.split``:
uniform random bits to the key holder K, their XOR with the value to the evaluator E),
commits to the increments and to each party's share in a header signed by the trader's
key (``twoparty.submit.seal_shares``, the 2PC bidders' format, with the order's side), and
sends each party only its own share over TLS pinned to the auction's CA and to that
party's identity. Each party checks the share against its hash and signs a receipt; the
order counts if both took it. The opening (increments, salt, shares, nonces) stays with
the trader.
"""

from __future__ import annotations

from mevauction.privacy import messages
from mevauction.privacy.bidder import Submission
from mevauction.privacy.tfhe import shares
from mevauction.privacy.twoparty.submit import PairAccess, PairSealed, deliver, seal_shares

NAMES = {0: "key holder", 1: "evaluator"}


def seal_curve(auction: str, side: str, increments: list[int], bits: int, key: bytes,
               bidder: str | None = None) -> PairSealed:
    """Split, commit and sign one order (nothing leaves the trader yet); ``bidder`` defaults
    to the key's address."""
    if side not in ("buy", "sell"):
        raise ValueError("side: must be buy or sell")
    to_k, to_e = shares.split(increments, bits)
    return seal_shares(auction, bidder or messages.address(key), key, side, list(increments),
                       [shares.pack(to_k), shares.pack(to_e)], list)


def submit_curve(access: PairAccess, auction: str, side: str, increments: list[int], bits: int,
                 key: bytes | None = None, bidder: str | None = None,
                 signers: list[str] | None = None) -> Submission:
    """Seal and send; both receipts are checked, against ``signers`` (K's and E's published
    addresses, ``TfheAuction.signers``) when given."""
    return deliver(access, seal_curve(auction, side, increments, bits, key or messages.new_key(), bidder),
                   signers, NAMES)
