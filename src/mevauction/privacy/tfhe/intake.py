"""A TFHE party's trader intake: each trader sends its own share of its curve here, over TLS.

The two-party backend's intake (``twoparty.intake``) with a curve for a share: TLS with
this party's certificate (K is identity 0, E identity 1 under the auction's CA, so a
trader that pins the CA and the identity talks to that party only), a header signed by
the trader's key with one salted hash per party's share, labels bound to keys, late,
duplicate, replayed and malformed submissions refused in one line naming the field, and
a receipt signed by this party's key (fresh per auction; the auctioneer publishes both
addresses). The share is the trader's ``shares.pack``ed bits: one integer below 2^bits
per level. The auctioneer's close is the deadline: the intake freezes and K and E agree
on the traders both accepted (K's arrival order), as the 2PC pair does — a trader that
reached one party only is left out at both. Runs in ``.venv-fhe``.
"""

from __future__ import annotations

from typing import IO, Any

from mevauction.privacy import messages
from mevauction.privacy.tfhe import shares, wire
from mevauction.privacy.twoparty.intake import Intake, agree, parse_curve_spec

KEYHOLDER, EVALUATOR = 0, 1  # TLS identities under the auction's CA (0 and 1, as garbler and evaluator)


def start(opening: dict[str, Any], role: int) -> tuple[Intake, dict[str, Any]]:
    """Open the auction of ``opening["intake"]`` and listen; returns what ``ready`` reports."""
    spec = opening["intake"]
    intake = Intake(role, messages.new_key())
    a = parse_curve_spec({**spec, "bits": opening["bits"], "levels": opening["levels"]})
    intake.open_auctions[a.auction] = a  # before serve: no lock needed yet
    intake.serve("127.0.0.1", int(spec.get("port", 0)), str(spec["tls_dir"]))
    return intake, {"intake": list(intake.address), "signer": intake.signer, "auction": a.auction}


class _Link:
    """``agree`` speaks JSON objects: here, frames over the K ↔ E link."""

    def __init__(self, peer: Any) -> None:
        self.peer = peer

    def send_json(self, obj: Any) -> None:
        self.peer.send({"type": "agree", "body": obj})

    def recv_json(self) -> Any:
        return self.peer.recv("agree")[0].get("body") or {}


def close(intake: Intake, auction: str, peer: Any, role: int,
          record: IO[bytes] | None) -> tuple[list, list[str], list[str], list[str]]:
    """The deadline: freeze, agree with the peer; (share bits per trader, sides, labels,
    header digests), in the agreed order. ``record`` gets one frame per agreed share, as a
    piped share would."""
    a = intake.freeze(auction)
    bids = agree(role, _Link(peer), a)
    if not bids:
        raise ValueError("no order reached both parties")
    got = [shares.to_bits(b.share, a.bits) for b in bids]
    if record is not None:
        for i, (b, share) in enumerate(zip(bids, got, strict=True)):
            wire.send(record, {"type": "share", "trader": i, "bidder": b.bidder, "share": share})
    return got, [b.side for b in bids], [b.bidder for b in bids], [b.digest for b in bids]
