"""A committee server that cheats, run as its own process by the attack tests only:

    python malicious_server.py ATTACK committee serve ARGS...

It patches, in this process alone, the engine of an otherwise real ``committee serve``:

- ``shift``: an additive attack on the tournament's last product — it adds δ
  (MEVAUCTION_TEST_DELTA, default 20) to its share of the first opened product after the
  last comparison, scaled so every server reconstructs the shifted value (the runner-up
  price drops by δ);
- ``forge-open``: sends a share off by one in the outcome's opening (2 values);
- ``shift-pre`` / ``forge-pre``: the same two in the preprocessing (``material``, before any
  bid): δ added to its share of the first product, or a share off by one in the first
  degree-t opening (the random bits' squares);
- ``equivocate``: in the agreement round, sends peer 0 a view without the last bid.
- ``equivocate-order``: in the agreement round, sends peer 0 a view with the first and
  last bids' arrival numbers swapped — no receipt covers those, so only the check that
  every server received the same views can catch it (it changes the bid order at peer 0).
- ``root-pre``: one inverse square root of its share of the random bits' squares off by one;
- ``root-sign``: its share of those roots negated towards peer 0 only (each still a root,
  so only the check that every server uses the same roots can catch it);
- ``censor``: signs (in its receipt) and publishes a wrong check value for bidder
  ``victim``'s shares, so its bid looks inconsistent;
- ``censor-agree``: signs the right receipt, then publishes a wrong value at agreement.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

from mevauction.cli import main
from mevauction.privacy import evaluation, material, protocol, server

ATTACK = sys.argv[1]
DELTA = int(os.environ.get("MEVAUCTION_TEST_DELTA", "20"))
armed = False

orig_ge = protocol.Engine.ge
orig_open_flat = protocol.Engine._open_flat
orig_send = None
orig_material_open = material.Material.open
pre_armed = True


async def ge(self, a, b, width=None):
    global armed
    armed = False
    out = await orig_ge(self, a, b, width)
    armed = True
    return out


def lagrange_at_zero(e) -> int:
    xs = list(range(1, e.m + 1))
    return e._lagrange(tuple(xs))[e.pid]


async def open_flat(self, flat, threshold):
    global armed
    if ATTACK == "shift" and armed and threshold == 2 * self.t:
        armed = False
        flat = flat.copy()
        flat[0] = (flat[0] + DELTA * pow(lagrange_at_zero(self), -1, self.p)) % self.p
    if ATTACK == "forge-open" and threshold == self.t and flat.size == 2:
        flat = flat.copy()
        flat[1] = (flat[1] + 1) % self.p
    return await orig_open_flat(self, flat, threshold)


async def material_open(self, flat, threshold):
    global pre_armed
    e, f = self.e, self.f
    wanted = 2 * e.t if ATTACK == "shift-pre" else e.t
    if pre_armed and threshold == wanted:
        pre_armed = False
        error = DELTA * pow(lagrange_at_zero(e), -1, e.p) if ATTACK == "shift-pre" else 1
        flat = flat.copy()
        flat[:, :1] = f.add(flat[:, :1], f.const(error))
    return await orig_material_open(self, flat, threshold)


def patch_send(mpc) -> None:
    original = mpc._send_message

    def send(peer, data):
        if peer == 0 and isinstance(data, bytes) and data.startswith(b'[["0x'):
            views = json.loads(data)
            if views and ATTACK == "equivocate":
                data = json.dumps(views[:-1], sort_keys=True).encode()
            elif len(views) > 1:
                views[0][1], views[-1][1] = views[-1][1], views[0][1]
                data = json.dumps(views, sort_keys=True).encode()
        return original(peer, data)

    mpc._send_message = send


orig_own_roots = material.Material.own_roots
roots_next = False


def own_roots(self, squares):
    global roots_next
    roots = orig_own_roots(self, squares)
    if ATTACK == "root-pre":
        roots = roots.copy()
        roots[:, :1] = self.f.add(roots[:, :1], self.f.const(1))
    roots_next = True  # root-sign: the next message to peer 0 is these roots
    return roots


def patch_roots_send(mpc, f) -> None:
    original = mpc._send_message

    def send(peer, data):
        global roots_next
        if peer == 0 and roots_next and isinstance(data, bytes):
            roots_next = False
            data = f.pack(f.neg(f.unpack(data, len(data) // (4 * f.L))))
        return original(peer, data)

    mpc._send_message = send


orig_accept = evaluation.Auction.accept


def accept(self, header, shares, nonce, engine):
    seq = orig_accept(self, header, shares, nonce, engine)
    if header.bidder == "victim":
        self.bids[-1].published[0] = (self.bids[-1].published[0] + 1) % engine.p
    return seq


if ATTACK in ("shift", "forge-open"):
    protocol.Engine.ge = ge
    protocol.Engine._open_flat = open_flat
elif ATTACK in ("shift-pre", "forge-pre"):
    material.Material.open = material_open
elif ATTACK in ("equivocate", "equivocate-order"):
    orig_init = protocol.Engine.__init__

    def init(self, mpc, bits=64):
        orig_init(self, mpc, bits)
        if not getattr(mpc, "_patched", False):
            patch_send(mpc)
            mpc._patched = True

    protocol.Engine.__init__ = init
elif ATTACK in ("root-pre", "root-sign"):
    material.Material.own_roots = own_roots
    if ATTACK == "root-sign":
        orig_material_init = material.Material.__init__

        def material_init(self, engine):
            orig_material_init(self, engine)
            if not getattr(engine.mpc, "_patched", False):
                patch_roots_send(engine.mpc, self.f)
                engine.mpc._patched = True

        material.Material.__init__ = material_init
elif ATTACK == "censor":
    evaluation.Auction.accept = accept
elif ATTACK == "censor-agree":
    orig_accept_bid = server.CommitteeServer.accept_bid

    def accept_bid(self, req):
        reply = orig_accept_bid(self, req)
        for a in self.auctions.values():
            for b in a.bids:
                if b.header.bidder == "victim":
                    b.published[0] = (int(reply["published"][0]) + 1) if b.seq == reply.get("seq") else b.published[0]
        return reply

    server.CommitteeServer.accept_bid = accept_bid
else:
    raise SystemExit(f"unknown attack {ATTACK}")

np.seterr(all="ignore")
raise SystemExit(main(sys.argv[2:]))
