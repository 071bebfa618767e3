"""A party's bidder intake: bidders submit their own XOR share, no coordinator in between.

Each party (garbler, evaluator) may listen on an intake port (``sealed party serve
--intake``): TLS with the party's certificate, so a bidder that pins the pair's CA and
the role named in the certificate talks to that party only; bidders show no certificate,
they are authenticated by the secp256k1 signature on their bid header (``messages.BidHeader``
with two share hashes). One request per connection:

- ``bid`` {header, share, nonce}: refused when the auction is unknown or already closed
  (late), the signature is bad, the label is an address not the signer's or a name not
  registered to the signer at ``open`` (no label squatting), the header is not a plain bid
  (a reserve comes from the auctioneer, inside its job), the share is not below 2^64 or
  does not match this party's hash in the header (a share sent to the other party, or
  altered), the MACs the bidder dealt with it (``binding``: they bind the other party's
  share) are missing or malformed, the header was seen (a replay) or the label already bid
  (duplicate), or the auction is full. The share hash covers the MACs too. Accepted: a
  receipt signed by the party's key over (auction, digest, role).

The auctioneer ``open``s an auction on its control link (``party.serve``) and its ``job``
is the deadline: the intake freezes, and the two parties agree over their own pinned link
on the bids both accepted (the garbler's arrival order, restricted to what the evaluator
holds), so a bid that reached one party only is left out at both, and the run uses those
shares. The auctioneer never holds a share.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mevauction.errors import InputError
from mevauction.eth import fields
from mevauction.privacy import envelope, messages, tls
from mevauction.privacy.twoparty import binding, circuits
from mevauction.privacy.twoparty.link import GARBLER, Channel
from mevauction.privacy.twoparty.store import IntakeStore

REQUEST_LIMIT = 1 << 16


class Refused(Exception):
    """A bid this party does not take; its message is the reason the bidder reads."""


@dataclass
class Accepted:
    digest: str
    bidder: str
    share: Any  # one value below 2^bits, or (a curve, ``levels`` > 0) one per level
    side: str = ""
    bind: binding.Dealt | None = None  # the MACs the bidder dealt with it, parsed (``binding``; a curve has none)


@dataclass
class OpenAuction:
    auction: str
    mechanism: str
    max_bids: int
    k: int
    registered: dict[str, str]  # non-address label -> the only signer allowed to bid under it
    bits: int = circuits.WIDTH
    caps: dict[str, int] | None = None  # builder: label (lower case) -> its largest bid; others uncapped
    admit: set[str] | None = None  # header digests the auctioneer forwards: no other bid is taken
    security: str = circuits.SECURITY[0]  # dual execution unless the auctioneer asks for one (benchmarks)
    levels: int = 0  # > 0: each share is a curve, ``levels`` values below 2^bits (the TFHE double auction)
    bids: list[Accepted] = field(default_factory=list)
    digests: set[str] = field(default_factory=set)
    labels: set[str] = field(default_factory=set)


def parse_spec(msg: dict[str, Any]) -> OpenAuction:
    auction = msg.get("auction")
    if not isinstance(auction, str) or not 0 < len(auction) <= 66:
        raise ValueError("open: auction must be a short string")
    if msg.get("mechanism") not in circuits.MECHANISMS:
        raise ValueError(f"open: mechanism {msg.get('mechanism')!r} has no two-party circuit")
    if msg.get("mechanism") == "double":  # a curve is G shares, not one: only through ``sealed run``
        raise ValueError("open: double has no bidder-side submission on the two-party backend")
    max_bids, k = msg.get("max_bids"), msg.get("k", 1)
    if not isinstance(max_bids, int) or not 1 <= max_bids <= 1 << 16:
        raise ValueError("open: max_bids must be an integer in [1, 65536]")
    if not isinstance(k, int) or not 1 <= k <= max_bids:
        raise ValueError("open: k must be between 1 and max_bids")
    registered = parse_registered(msg)
    bits = msg.get("bits", circuits.WIDTH)
    if bits not in circuits.WIDTHS:
        raise ValueError(f"open: bits must be one of {circuits.WIDTHS}")
    caps, admit = msg.get("caps"), msg.get("admit")
    if caps is not None:
        if msg["mechanism"] != "builder" or not isinstance(caps, dict):
            raise ValueError("open: caps are a builder auction's {label: largest bid}")
        # decimal wei as the committee takes them (evaluation.parse_caps), clamped to the width
        caps = {str(a).lower(): min(fields.wei(v, f"open: caps.{a}"), (1 << bits) - 1) for a, v in caps.items()}
    if admit is not None and not (isinstance(admit, list) and all(isinstance(d, str) for d in admit)):
        raise ValueError("open: admit must be a list of header digests")
    try:
        security = circuits.security(msg)
    except ValueError as exc:
        raise ValueError(f"open: {exc}") from None
    return OpenAuction(auction, str(msg["mechanism"]), max_bids, k, registered, int(bits), caps,
                       None if admit is None else {d.lower() for d in admit}, security=security)


def parse_curve_spec(msg: dict[str, Any]) -> OpenAuction:
    """An auction whose shares are curves (the TFHE double auction): ``levels`` values
    below 2^``bits`` per share, one order per trader, sides public."""
    auction, max_bids, levels, bits = (msg.get(k) for k in ("auction", "max_bids", "levels", "bits"))
    if not isinstance(auction, str) or not 0 < len(auction) <= 66:
        raise ValueError("open: auction must be a short string")
    if type(max_bids) is not int or not 1 <= max_bids <= 1 << 12:
        raise ValueError("open: max_bids must be an integer in [1, 4096]")
    if type(levels) is not int or not 1 <= levels <= 1 << 12:
        raise ValueError("open: levels must be an integer in [1, 4096]")
    if type(bits) is not int or not 1 <= bits <= 8:
        raise ValueError("open: bits must be an integer in [1, 8]")
    return OpenAuction(auction, "double", max_bids, 1, parse_registered(msg), bits=bits, levels=levels)


def parse_registered(msg: dict[str, Any]) -> dict[str, str]:
    """``registered``: {label: the only signer address that may bid under it}."""
    registered = msg.get("registered") or {}
    if not isinstance(registered, dict) or not all(isinstance(v, str) and messages.is_address(v)
                                                   for v in registered.values()):
        raise ValueError("open: registered must map labels to signer addresses")
    return {str(a): str(v).lower() for a, v in registered.items()}


def _values(a: OpenAuction, raw: object) -> list[int]:
    """The share as the values its hash covers: [one value], or a curve's one per level."""
    if a.levels:
        ok = isinstance(raw, list) and len(raw) == a.levels and all(type(v) is int and 0 <= v < 1 << a.bits
                                                                     for v in raw)
        if not ok:
            raise Refused(f"share: expected {a.levels} integers below 2^{a.bits}, one per level")
        return [int(v) for v in raw]  # type: ignore[attr-defined]
    try:
        share = fields.uint(raw, "share", (1 << circuits.WIDTHS[-1]) - 1)
    except InputError as exc:
        raise Refused(str(exc)) from None
    if share >> a.bits:
        raise Refused(f"share: must be below 2^{a.bits}")
    return [share]


class Intake:
    """The bids of the auctions this party has open; thread-safe (bidders are served on threads)."""

    def __init__(self, role: int, key: bytes, box_key: bytes | None = None, store: IntakeStore | None = None) -> None:
        self.role, self.key, self.box_key = role, key, box_key  # box_key: opens envelopes a relay forwards
        self.signer = messages.address(key)
        self.address: tuple[str, int] = ("", 0)  # where ``serve`` listens
        self.open_auctions: dict[str, OpenAuction] = {}
        self.closed: set[str] = set()
        self.frozen: dict[str, OpenAuction] = {}  # curve auctions closed since this process started
        self.lock = threading.Lock()
        self.store = store  # with a store, what was acknowledged before a restart is still here
        if store is not None:
            open_, self.closed = store.load()
            for raw, bids in open_:
                a = parse_curve_spec(raw) if raw.get("levels") else parse_spec(raw)
                for digest, bidder, share, side, bind in bids:
                    a.bids.append(Accepted(digest, bidder, share, side,
                                           None if bind is None else binding.dealt(bind, a.bits)))
                    a.digests.add(digest)
                    a.labels.add(bidder)
                self.open_auctions[a.auction] = a

    def open(self, msg: dict[str, Any], parse: Callable[[dict[str, Any]], OpenAuction] = parse_spec) -> dict[str, Any]:
        spec = parse(msg)
        with self.lock:
            if spec.auction in self.open_auctions or spec.auction in self.closed:
                raise ValueError("open: auction id already used")
            if self.store is not None:
                self.store.opened(spec.auction, {k: v for k, v in msg.items() if k != "op"})
            self.open_auctions[spec.auction] = spec
        return {"status": "open", "auction": spec.auction}

    def accept(self, req: dict[str, Any]) -> dict[str, Any]:
        try:
            if req.get("op") != "bid":
                raise Refused("expected op 'bid'")
            raw = req.get("header")
            header = messages.BidHeader.from_json(raw if isinstance(raw, dict) else {})
            raw, nonce, bind = self._share_message(header, req)
            nonce = fields.data(nonce, "nonce", length=32)
        except (InputError, Refused) as exc:
            return {"ok": False, "reason": str(exc)}
        digest = "0x" + header.digest().hex()
        try:
            with self.lock:
                a, values, bind = self._check(header, raw, nonce, digest, bind)
                share: Any = values if a.levels else values[0]
                if self.store is not None:  # on disk before the receipt is signed
                    self.store.accepted(a.auction, len(a.bids), digest, header.bidder, share, header.side, bind)
                a.bids.append(Accepted(digest, header.bidder, share, header.side,
                                       None if bind is None else binding.dealt(bind, a.bits)))
                a.digests.add(digest)
                a.labels.add(header.bidder)
                seq = len(a.bids) - 1
        except Refused as exc:
            return {"ok": False, "reason": str(exc)}
        receipt = messages.sign(messages.receipt_digest(header.auction, digest, self.role, []), self.key)
        return {"ok": True, "seq": seq, "digest": digest, "receipt": receipt, "signer": self.signer}

    def _share_message(self, header: messages.BidHeader, req: dict[str, Any]) -> tuple[object, object, object]:
        """(share, nonce, MACs): as sent over this intake's TLS, or opened from the envelope a
        relay (the service) forwards — sealed to this party's key, bound to the header and role."""
        if "ciphertext" not in req:
            return req.get("share"), req.get("nonce"), req.get("bind")
        if self.box_key is None:
            raise Refused("this party has no encryption key: send the share itself")
        try:
            context = header.digest() + bytes([self.role])
            message = json.loads(envelope.decrypt(self.box_key, req["ciphertext"], context))
        except (envelope.EnvelopeError, ValueError):
            raise Refused("the sealed share does not open with this party's key "
                          "(altered, or sealed for another bid or party)") from None
        shares = message.get("shares") if isinstance(message, dict) else None
        if not isinstance(shares, list) or len(shares) != 1:
            raise Refused("the sealed share message must hold one share")
        return shares[0], message.get("nonce"), message.get("bind")

    def _check(self, header: messages.BidHeader, raw: object, nonce: bytes, digest: str,
               raw_bind: object) -> tuple[OpenAuction, list[int], dict[str, str] | None]:
        if header.auction in self.closed:
            raise Refused("late: the auction is closed")
        a = self.open_auctions.get(header.auction)
        if a is None:
            raise Refused("unknown auction")
        if a.admit is not None and digest not in a.admit:
            raise Refused("not a bid the auctioneer forwards for this auction")
        if not header.signature_valid():
            raise Refused("bad signature on the bid header")
        if a.levels:  # a curve's side is public (the double auction's order book shape)
            if header.side not in ("buy", "sell"):
                raise Refused("side: must be buy or sell")
        elif header.side not in ("", "builder") or (header.side and a.mechanism != "builder"):
            raise Refused("only plain bids here: the reserve comes from the auctioneer")
        values = _values(a, raw)
        signer, label = header.signer.lower(), header.bidder
        if messages.is_address(label):
            if label.lower() != signer:
                raise Refused(f"label {label} is an address: only its own key may bid under it")
        elif a.registered.get(label) != signer:
            raise Refused(f"label {label!r} is not registered to key {signer} for this auction")
        if len(header.share_hashes) != 2:
            raise Refused("expected 2 share hashes")
        bind = None
        if not a.levels:  # a bid for the pair's circuit: with the MACs that bind the other party's share
            try:
                bind = binding.check(raw_bind, a.bits)
            except ValueError as exc:
                raise Refused(str(exc)) from None
        hashed = values if bind is None else [*values, binding.digest(bind)]
        if messages.share_hash(header.auction, label, self.role, hashed, nonce) != header.share_hashes[self.role]:
            raise Refused("share does not match this party's hash in the header")
        if digest in a.digests:
            raise Refused("duplicate: this bid was already received")
        if label in a.labels:
            raise Refused(f"duplicate: {label} already bid in this auction")
        if len(a.bids) >= a.max_bids:
            raise Refused("auction full")
        return a, values, bind

    def padded_job(self, auction: str) -> dict[str, Any]:
        """The job for ``auction`` at max_bids rows of zero shares (what is garbled at open)."""
        with self.lock:
            a = self.open_auctions[auction]
        capped = a.caps is not None
        rows = circuits.rows(a.mechanism, a.max_bids, capped)
        return {"mechanism": a.mechanism, "n": a.max_bids, "k": a.k, "shares": ["0"] * rows, "bits": a.bits,
                "capped": capped, "security": a.security, "macs": [binding.public(0)] * rows}

    def freeze(self, auction: str) -> OpenAuction:
        """The deadline: no bid is taken for ``auction`` from now on. Again for the same curve
        auction (a TFHE close retried after the peer restarted): the bids frozen the first
        time — the auctioneer adds no input there, so a re-run reveals nothing new; a 2PC
        auction is never run twice (its reserve comes with each close)."""
        with self.lock:
            if auction in self.frozen:
                return self.frozen[auction]
            a = self.open_auctions.pop(auction, None)
            if a is None:
                raise ValueError(f"auction {auction!r} is not open here")
            if self.store is not None:
                self.store.closed(auction)
            self.closed.add(auction)
            if a.levels:
                self.frozen[auction] = a
        return a

    def serve(self, host: str, port: int, tls_dir: str | None = None,
              context: ssl.SSLContext | None = None) -> threading.Thread:
        """Serve bidders with this party's certificate under the pair's CA (``tls_dir``) or
        with ``context`` (a party's own pinned identity, ``tls.pinned_server_context``)."""
        ctx = context or tls.server_context(str(tls_dir), self.role)
        listener = socket.create_server((host, port))
        self.address = listener.getsockname()[:2]  # port 0: the one the system chose

        def one(raw: socket.socket) -> None:
            raw.settimeout(10)  # a bidder that never finishes cannot hold a thread for long
            try:
                chan = Channel(ctx.wrap_socket(raw, server_side=True))
                try:
                    req = json.loads(chan.recv(REQUEST_LIMIT))
                    chan.send_json(self.accept(req) if isinstance(req, dict) else
                                   {"ok": False, "reason": "expected a JSON object"})
                finally:
                    chan.close()
            except (OSError, ssl.SSLError, ConnectionError, ValueError):
                raw.close()

        def loop() -> None:
            while True:
                raw, _ = listener.accept()
                threading.Thread(target=one, args=(raw,), daemon=True).start()

        t = threading.Thread(target=loop, daemon=True, name="2pc-intake")
        t.start()
        return t


def agree(role: int, link: Any, a: OpenAuction) -> list[Accepted]:
    """The bids both parties accepted, in the garbler's arrival order (same list at both)."""
    if role == GARBLER:
        link.send_json({"auction": a.auction, "digests": [b.digest for b in a.bids]})
        both = link.recv_json().get("digests")
        mine = {b.digest: b for b in a.bids}
        if not isinstance(both, list) or len(set(both)) != len(both) or any(d not in mine for d in both):
            raise ValueError("the evaluator answered bids the garbler does not hold")
        return [mine[d] for d in both]
    theirs = link.recv_json()
    if theirs.get("auction") != a.auction or not isinstance(theirs.get("digests"), list):
        raise ValueError("the garbler agreed on another auction")
    mine = {b.digest: b for b in a.bids}
    both = [str(d) for d in dict.fromkeys(theirs["digests"]) if d in mine]
    link.send_json({"digests": both})
    return [mine[d] for d in both]


def intake_job(role: int, link: Any, intake: Intake, msg: dict[str, Any]) -> dict[str, Any]:
    """Freeze the auction, agree with the peer, and make the job of the agreed shares.

    The mechanism and k are the ones ``open`` fixed; only the auctioneer's reserve share
    (builder) comes with the job."""
    a = intake.freeze(str(msg.get("auction")))
    bids = agree(role, link, a)
    if not bids:
        raise ValueError("no bid reached both parties")
    rows = [b.share for b in bids]
    macs: list[Any] = [b.bind or {} for b in bids]
    if a.mechanism == "builder":
        reserve = fields.uint(msg.get("reserve", "0x0"), "reserve", (1 << a.bits) - 1)
        rows, macs = [reserve, *rows], [msg.get("reserve_bind") or {}, *macs]  # β0's MACs: the auctioneer's
    if a.caps is not None:  # public to both parties: the garbler inputs each cap, the evaluator 0
        caps = [a.caps.get(b.bidder.lower(), (1 << a.bits) - 1) for b in bids]
        rows += [c if role == GARBLER else 0 for c in caps]
        macs += [binding.public(0 if role == GARBLER else c) for c in caps]  # each side knows the other's
    return {"op": "job", "mechanism": a.mechanism, "n": len(bids), "k": min(a.k, len(bids)), "bits": a.bits,
            "capped": a.caps is not None, "shares": [f"{v:x}" for v in rows], "inputs": "close", "auction": a.auction,
            "bidders": [b.bidder for b in bids], "excluded": len(a.bids) - len(bids), "security": a.security,
            "macs": macs}
