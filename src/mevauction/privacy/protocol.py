"""Secure primitives for the committee, built on MPyC's runtime, with preprocessing.

Everything works on raw Shamir shares (NumPy object arrays of ints mod p, degree t,
party i holding the value at x = i + 1). The bid-independent material is produced by
``Engine.preprocess`` before the deadline; the online phase then only opens masked
values and does local arithmetic:

- **multiplication** (``mul``): the local product of two degree-t shares is a degree-2t
  sharing; adding a pseudorandom sharing [r]_t and a pseudorandom degree-2t sharing of
  zero and opening it (all m shares) reveals xy + r, uniformly masked; subtracting [r]_t
  leaves [xy]_t. One opening per product, no resharing round (the masks come from MPyC's
  pseudorandom secret sharing, PRSS, computed locally without communication).
- **carry / comparison** (``high_bit``, ``ge``): for x < 2^(l+1), the bit ⌊x / 2^l⌋ is
  found by opening c = x + r + 2^l·s (r an l-bit random number known as hexadecimal
  digits, s a random k-bit number that statistically hides x), then computing the
  borrow [c mod 2^l < r] digit by digit. Each random digit is preprocessed as the
  suffix sums of its one-hot vector, so for a public digit c_d both [r_d > c_d] and
  [r_d = c_d] are *linear* in shares; the l/4 digits are merged in a tree of
  ⌈log2(l/4)⌉ rounds (gt = gt_hi + eq_hi·gt_lo, eq = eq_hi·eq_lo): 29 products per
  64-bit comparison instead of the ~65 of a bitwise product and zero test.

An ``Engine`` works at one bid width l (64 by default; 128 for the builder auction) in
that width's field (``field.modulus_for``); a server keeps one engine per width in use.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterable
from typing import Any

import numpy as np
from mpyc import asyncoro, thresha
from mpyc.finfields import GF

from mevauction.privacy.authshare import Equivocation, InconsistentOpening, MacCheckFailed, Sh, cat, stack
from mevauction.privacy.field import DEFAULT_BITS, MASK_TERM_BOUND, comparison_fits, modulus_for
from mevauction.privacy.limbs import LimbField, Prss
from mevauction.privacy.material import Material

DIGIT_BITS = 4
BASE = 1 << DIGIT_BITS
_LOW64 = (1 << 64) - 1


def limb_layout(p: int) -> tuple[int, int]:
    """(64-bit limbs per element of GF(p), bytes sent of the top limb): 98 bits → (2, 5)."""
    limbs = (p.bit_length() + 63) // 64
    return limbs, (p.bit_length() - 64 * (limbs - 1) + 7) // 8


def encode(x: np.ndarray, p: int) -> bytes:
    """Field elements limb by limb: full 64-bit limbs, then the top limb's significant bytes.

    13 bytes per element for the 64-bit width's field (p < 2^98), 21 for 128 bits.
    """
    limbs, top = limb_layout(p)
    parts = [((x >> (64 * k)) & _LOW64).astype("<u8").tobytes() for k in range(limbs - 1)]
    high = (x >> (64 * (limbs - 1))).astype("<u8").view(np.uint8).reshape(-1, 8)[:, :top]
    return b"".join(parts) + np.ascontiguousarray(high).tobytes()


def decode(payload: bytes, n: int, p: int) -> np.ndarray:
    """``encode``'s inverse, top limb first: one shift and one OR per further limb."""
    limbs, top = limb_layout(p)
    high = np.zeros((n, 8), dtype=np.uint8)
    high[:, :top] = np.frombuffer(payload, dtype=np.uint8, offset=8 * n * (limbs - 1)).reshape(n, top)
    value = high.view("<u8").reshape(n).astype(object)
    for k in range(limbs - 2, -1, -1):
        value = (value << 64) | np.frombuffer(payload, dtype="<u8", count=n, offset=8 * n * k).astype(object)
    return value


def obj(values: Iterable[object]) -> np.ndarray:
    """An object array of Python ints (field arithmetic must not overflow int64)."""
    return np.array(list(values) if not isinstance(values, np.ndarray) else values, dtype=object)


def public_digits(c: np.ndarray, width: int) -> np.ndarray:
    """The l/4 hexadecimal digits (least significant first) of public 0 ≤ c < 2^l, l = ``width``, as (n, l/4)."""
    columns = []
    for lo in range(0, width, 64):
        span = min(64, width - lo)
        limb = ((c >> lo) & _LOW64).astype(np.uint64)
        shifts = np.arange(0, span, DIGIT_BITS, dtype=np.uint64)
        columns.append(((limb[:, None] >> shifts) & np.uint64(BASE - 1)).astype(np.intp))
    return columns[0] if len(columns) == 1 else np.hstack(columns)


class Pool:
    """A first-in-first-out store of preprocessed share arrays (or pairs) of one kind.

    Every party takes the same amounts in the same order, so the pools stay in step;
    when one runs dry the same refill happens at the same point at every party.
    """

    def __init__(self) -> None:
        self.chunks: list[Any] = []
        self.available = 0

    def put(self, arr: Any) -> None:
        if len(arr):
            self.chunks.append(arr)
            self.available += len(arr)

    def take(self, n: int) -> Any:
        parts, need = [], n
        while need:
            head = self.chunks[0]
            if len(head) <= need:
                parts.append(self.chunks.pop(0))
                need -= len(head)
            else:
                parts.append(head[:need])
                self.chunks[0] = head[need:]
                need = 0
        self.available -= n
        if len(parts) == 1:
            return parts[0]
        if isinstance(parts[0], Sh):
            return cat(parts, parts[0].key, parts[0].p)
        return np.concatenate(parts)


class Engine:
    """One party's view of the secure computation at one bid width: shares, masks, MPyC runtime.

    Secrets are authenticated pairs (``authshare.Sh``); the MAC key's share is made from
    PRSS on a fixed common input, so engines of different widths may be made at any
    moment. ``verify`` must pass before anything secret-dependent is output.
    """

    def __init__(self, mpc: Any, bits: int = DEFAULT_BITS) -> None:  # mpc: MPyC's (untyped) runtime
        self.mpc = mpc
        self.bits = bits
        self.p = modulus_for(bits)
        self.field = GF(self.p)
        self.n_digits = bits // DIGIT_BITS
        self._digit_weights = np.array([1 << (DIGIT_BITS * d) for d in range(self.n_digits)], dtype=object)
        self.m = len(mpc.parties)
        self.t = mpc.threshold
        self.pid = mpc.pid
        self.randoms = Pool()      # [r]_t, uniformly random (product masks)
        self.zeros = Pool()        # [0]_2t, pseudorandom sharings of zero
        self.digits = Pool()       # pairs (n, l/4, 17): suffix sums of one-hot random digits
        self.digit_values = Pool() # pairs (n, l/4): the random digits themselves
        self.divl = Pool()         # pairs: k-bit random high parts of comparison masks
        self._lagrange_cache: dict[tuple[int, ...], list[int]] = {}
        self.online_refills = 0  # comparison masks made after a deadline
        self._inv = {w: pow(1 << w, -1, self.p) for w in range(DIGIT_BITS, bits + 1, DIGIT_BITS)}
        self._check = self._consistency_matrix()
        if not comparison_fits(bits, self.m, self.t, self.p):
            raise ValueError(f"{self.m} parties: comparison masks would wrap around GF(p) at {bits} bits")
        prfs = self.mpc.prfs(self.field.order)
        self.key = int(thresha.np_pseudorandom_share(self.field, self.m, self.pid, prfs,
                                                     b"mac-key:" + bytes([bits]), 1).value[0])
        self.unchecked: list[tuple[np.ndarray, np.ndarray]] = []  # (z, r·z) made since the last check
        self._echo: bytes | None = None  # the last exchange's digest, until a round checked it
        self._deferred: Exception | None = None  # raised after that check (``defer``)
        self.checks = 0
        self.limbs = LimbField(self.p)
        self.prss = Prss(self.limbs, self.m, self.t, self.pid, self.mpc._prss_keys)
        self.material = Material(self)  # the comparison masks, made in the limb domain

    # -- pseudorandom secret sharing (local, no communication) --------------------

    def _prss(self, n: int, term_bound: int | None = None) -> np.ndarray:
        """n random shares [r]_t (``limbs.Prss``); with ``term_bound`` (a power of 2) MPyC's
        PRSS, each of its C(m, t) PRF outputs below the bound, not their sum
        (``field.MASK_TERM_BOUND``: why that keeps the full k bits of hiding)."""
        if term_bound is None:
            return self.limbs.to_ints(self.prss.random(self.mpc._prss_uci(), n))  # type: ignore[no-any-return]
        prfs = self.mpc.prfs(term_bound)
        return thresha.np_pseudorandom_share(self.field, self.m, self.pid, prfs,
                                             self.mpc._prss_uci(), n).value

    def _prss_zero(self, n: int) -> np.ndarray:
        return self.limbs.to_ints(self.prss.zero(self.mpc._prss_uci(), n))  # type: ignore[no-any-return]

    def fill_masks(self, n: int) -> None:
        """Preprocess n product masks ([r]_t and [0]_2t); an authenticated product uses two."""
        if n > 0:
            self.randoms.put(self._prss(n))
            self.zeros.put(self._prss_zero(n))

    def _masks(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        short = max(n - self.randoms.available, n - self.zeros.available)
        if short > 0:
            self.fill_masks(short)
        return self.randoms.take(n), self.zeros.take(n)

    def const(self, c: Any) -> Sh:
        """A public constant as an authenticated pair."""
        return Sh(np.asarray(c, dtype=object), np.asarray(c, dtype=object) * self.key, self.key, self.p)

    def cat(self, parts: list[Any], axis: int = 0) -> Sh:
        return cat(parts, self.key, self.p, axis)

    # -- opening and multiplication ---------------------------------------------

    # No return annotation: mpc_coro takes one as the placeholder type of its result (the
    # returnType call below declares a Future instead). It yields (senders, their payloads).
    @asyncoro.mpc_coro
    async def _send_receive(self, payload: bytes, threshold: int):
        """Send ``payload`` to the next ``threshold`` parties, receive from the previous ones.

        The exchange pattern of MPyC's ``output`` (tagged with MPyC's program counter),
        minus its generic field-array wrapping: openings are the online phase's hot path.
        """
        await self.mpc.returnType(asyncio.Future)
        for peer in range(self.m):
            if 0 < (peer - self.pid) % self.m <= threshold:
                self.mpc._send_message(peer, payload)
        senders = [(self.pid - threshold + j) % self.m for j in range(threshold)]
        return senders, await self.mpc.gather([self.mpc._receive_message(j) for j in senders])

    async def _swap(self, payload: bytes, threshold: int) -> tuple[list[int], list[bytes]]:
        """One round (``_send_receive``) carrying, in front of ``payload``, the digest of the
        last ``exchange``'s views if it is not checked yet (``echo``): every peer's must be
        ours, else a server sent different values to different peers and the run aborts."""
        echo, self._echo = self._echo, None
        if echo is None:
            return await self._send_receive(payload, threshold)  # type: ignore[no-any-return]
        senders, payloads = await self._send_receive(echo + payload, threshold)
        differ = [j for j, b in zip(senders, payloads, strict=True) if b[:len(echo)] != echo]
        if differ:
            raise Equivocation(f"server(s) {', '.join(map(str, differ))} received a different set of "
                               "published values: a server sent different values to different peers")
        deferred, self._deferred = self._deferred, None
        if deferred is not None:
            raise deferred
        return senders, [b[len(echo):] for b in payloads]

    def defer(self, exc: Exception) -> None:
        """Raise ``exc`` (a verdict drawn from the last exchange's views) only after the round
        that checks every server holds those views: an equivocating server is named as such,
        and honest servers, all on the same code path until then, stay in step."""
        self._deferred = exc

    async def exchange(self, obj: Any) -> list[Any]:
        """Every party's JSON value, in party order, one round — MPyC's ``transfer``
        unpickles what peers send, so a malicious server could run code in the others.

        Every party must have received the same list: the digest of the views rides on
        the next round (``_swap``; no round of its own), which must therefore reveal
        nothing about values computed from the views — it is a masked opening (x·y + r,
        r fresh and uniform) or a PRSS seed in every caller — and nothing is output
        before it (``settle``).
        """
        mine = json.dumps(obj, sort_keys=True).encode()
        senders, payloads = await self._swap(mine, self.m - 1)
        views: list[Any] = [None] * self.m
        raw = [mine] * self.m
        views[self.pid] = obj
        for j, b in zip(senders, payloads, strict=True):
            views[j], raw[j] = json.loads(b), b
        # The bytes received, in party order, length-prefixed: the same bytes give the same views.
        self.echo(b"".join(len(b).to_bytes(8, "big") + b for b in raw))
        return views

    def echo(self, public: bytes) -> None:
        """Have the next round check that every party holds these same public bytes."""
        self._echo = hashlib.sha256(public).digest()

    async def settle(self) -> None:
        """Check a pending ``exchange`` digest now, in a round of its own if no round carried it."""
        if self._echo is not None:
            await self._swap(b"", self.m - 1)

    def _small(self, c: int) -> int:
        """c's representative in (−p/2, p/2]: Lagrange constants are small integers (2, −1; 3, −3, 1
        for 3 servers), and a product by a small int costs far less than by a 98-bit one; every
        use reduces mod p after summing."""
        return c - self.p if c > self.p // 2 else c

    def _lagrange(self, xs: tuple[int, ...]) -> list[int]:
        if xs not in self._lagrange_cache:
            coeffs = []
            for i, xi in enumerate(xs):
                num, den = 1, 1
                for k, xk in enumerate(xs):
                    if k != i:
                        num, den = num * -xk % self.p, den * (xi - xk) % self.p
                coeffs.append(self._small(num * pow(den, -1, self.p) % self.p))
            self._lagrange_cache[xs] = coeffs
        return self._lagrange_cache[xs]

    async def _open_flat(self, flat: np.ndarray, threshold: int) -> np.ndarray:
        """Reconstruct a flat array of degree-``threshold`` shares at every party (one round).

        Every party sends its share to every other. A degree-t opening then has m − t − 1
        redundant shares: they must lie on the polynomial of the first t + 1, or a
        server sent a share that is not its own and the run aborts. (A degree-2t opening
        has no redundancy; the MAC check catches what a server adds there.)
        """
        senders, payloads = await self._swap(encode(flat, self.p), self.m - 1)
        rows: list[np.ndarray] = [flat] * self.m
        for j, b in zip(senders, payloads, strict=True):
            rows[j] = decode(b, flat.size, self.p)
        if threshold < self.m - 1 and not np.all(self.consistent_columns(np.array(rows, dtype=object))):
            raise InconsistentOpening("an opened value's shares do not lie on one polynomial: "
                                      "a server sent a share that is not its own")
        coeffs = self._lagrange(tuple(range(1, threshold + 2)))
        out = coeffs[0] * rows[0]
        for c, y in zip(coeffs[1:], rows[1: threshold + 1], strict=True):
            out += c * y
        return out % self.p

    async def open(self, x: Sh) -> np.ndarray:
        """Reveal a shared array to all parties (one round); its MAC half stays secret."""
        if x.size == 0:
            return np.zeros(x.shape, dtype=object)
        return (await self._open_flat(np.asarray(x.v, dtype=object).reshape(-1) % self.p, self.t)).reshape(x.shape)

    async def open_output(self, x: Sh) -> np.ndarray:
        """What an auction publishes: only after every product so far passed the MAC check."""
        await self.settle()
        await self.verify()
        return await self.open(x)

    async def _products(self, pairs: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
        """[x·y]_t for each (x, y) of degree-t share arrays, all in one opening round."""
        sizes = [np.size(x) for x, _ in pairs]
        total = sum(sizes)
        if total == 0:
            return [np.zeros(np.shape(x), dtype=object) for x, _ in pairs]
        r, z = self._masks(total)
        flat = np.concatenate([(np.asarray(x, dtype=object) * y).reshape(-1) for x, y in pairs])
        opened = await self._open_flat((flat + r + z) % self.p, 2 * self.t)
        out = (opened - r) % self.p
        results, at = [], 0
        for (x, _), n in zip(pairs, sizes, strict=True):
            results.append(out[at:at + n].reshape(np.shape(x)))
            at += n
        return results

    async def mul(self, x: Any, y: Any) -> Any:
        """x·y element-wise (one round); a public factor needs no round."""
        if not isinstance(x, Sh) or not isinstance(y, Sh):
            return x * y
        z, rz = await self._products([(x.v, y.v), (x.m, y.v)])
        self.unchecked.append((z, rz))
        return Sh(z, rz, self.key, self.p)

    async def authenticate(self, *raws: np.ndarray) -> list[Sh]:
        """Pairs for plain shares (bids, random values): [r·x] by one product each, one round."""
        macs = await self._products([(np.full(np.shape(x), self.key, dtype=object), x) for x in raws])
        pairs = []
        for x, rx in zip(raws, macs, strict=True):
            x = np.asarray(x, dtype=object) % self.p
            self.unchecked.append((x, rx))
            pairs.append(Sh(x, rx, self.key, self.p))
        return pairs

    async def verify(self) -> None:
        """The MAC check over every pair made since the last one (see ``authshare``)."""
        if not self.unchecked:
            return
        pending, self.unchecked = self.unchecked, []
        rng = np.random.Generator(np.random.PCG64(await self.check_seed()))
        u = w = 0
        for z, rz in pending:
            alpha = rng.integers(0, 1 << 63, size=np.size(z), dtype=np.int64).astype(object)
            w += int(np.dot(alpha, np.asarray(z, dtype=object).reshape(-1)))
            u += int(np.dot(alpha, np.asarray(rz, dtype=object).reshape(-1)))
        await self.mac_check(w % self.p, u % self.p)

    async def check_seed(self) -> int:
        """A fresh public random seed for a MAC check's coefficients, opened only once the
        pairs it checks are fixed."""
        return int((await self._open_flat(self._prss(1), self.t))[0]) % (1 << 128)

    async def mac_check(self, w: int, u: int, what: str = "") -> None:
        """Open T = u − [r]·w for w = Σ α_k·z_k, u = Σ α_k·(r·z)_k (this party's shares): 0 iff
        (w.h.p.) no pair was changed; else abort (``what`` says of which pairs), nothing is output."""
        (t_value,) = await self._products([(np.array([self.key], dtype=object), np.array([w], dtype=object))])
        opened = await self._open_flat((t_value - u) % self.p, self.t)
        self.checks += 1
        if int(opened[0]) != 0:
            raise MacCheckFailed(f"the MAC check failed{what}: a server added an error to a product or an input; "
                                 "nothing is output")

    async def select(self, c: Sh, a: Any, b: Any) -> Sh:
        """c ? a : b for a secret bit c."""
        return (b + await self.mul(c, a - b)) % self.p

    async def is_zero_public(self, q: Sh) -> np.ndarray:
        """Public [q == 0] per element, revealing nothing else: open q·ρ, ρ random."""
        if q.size == 0:
            return np.zeros(q.shape, dtype=bool)
        (rho,) = await self.authenticate(self._prss(q.size).reshape(q.shape))
        return (await self.open(await self.mul(q, rho))) == 0

    # -- comparison material ------------------------------------------------------

    async def fill_digits(self, n: int) -> None:
        """Preprocess n comparison masks: l/4 random hexadecimal digits each, as one-hot
        suffix sums, and a k-bit high part (``material``; checked before they are pooled)."""
        if n <= 0:
            return
        suffix, values = await self.material.digits(n, self.n_digits)
        self.digits.put(suffix)
        self.digit_values.put(values)
        (divl,) = await self.authenticate(self._prss(n, MASK_TERM_BOUND))
        self.divl.put(divl)

    async def _take_digits(self, n: int) -> tuple[Sh, Sh, Sh]:
        short = n - self.digits.available
        if short > 0:  # preprocessing fell short: make the rest now (counted, it costs latency)
            self.online_refills += short
            await self.fill_digits(short)
        return self.digits.take(n), self.digit_values.take(n), self.divl.take(n)

    # -- carry and comparison -----------------------------------------------------

    async def high_bit(self, x: Sh, width: int | None = None) -> Sh:
        """[⌊x / 2^l⌋] for secret 0 ≤ x < 2^(l+1), l = ``width`` (≤ the engine's, default it);
        for any other x, a value ≠ 0, 1 may result.

        The opened value c = x + r + 2^l·s hides x up to 2^-29 (s: C(m, t) PRSS terms of
        k = 30 bits each); it does not wrap (``field.comparison_fits``).
        """
        width = self.bits if width is None else width
        n = x.size
        if n == 0:
            return x.copy()
        D = width // DIGIT_BITS
        suffix, digits, divl = await self._take_digits(n)
        suffix, digits = suffix[:, :D, :], digits[:, :D]
        r = (digits * self._digit_weights[:D]).sum(axis=1) % self.p
        c = await self.open(x + r + (divl << width))
        c_low = c & ((1 << width) - 1)
        cd = public_digits(c_low, width)
        gt = suffix.take_along_axis(cd[..., None] + 1, axis=-1)[..., 0]
        eq = (suffix.take_along_axis(cd[..., None], axis=-1)[..., 0] - gt) % self.p
        borrow = await self._merge_digits(gt, eq)
        return ((x - c_low + r) * self._inv[width] - borrow) % self.p

    async def _merge_digits(self, gt: Sh, eq: Sh) -> Sh:
        """[r > c] from per-digit [r_d > c_d], [r_d = c_d] (least significant digit first)."""
        while gt.shape[1] > 1:
            if gt.shape[1] % 2:  # a neutral least significant digit: not greater, equal
                n = gt.shape[0]
                gt = cat([np.zeros((n, 1), dtype=object), gt], self.key, self.p, axis=1)
                eq = cat([np.ones((n, 1), dtype=object), eq], self.key, self.p, axis=1)
            gt_lo, gt_hi = gt[:, 0::2], gt[:, 1::2]
            eq_lo, eq_hi = eq[:, 0::2], eq[:, 1::2]
            if gt_hi.shape[1] == 1:
                gt = (gt_hi + await self.mul(eq_hi, gt_lo)) % self.p
                break
            prod = await self.mul(stack([eq_hi, eq_hi]), stack([gt_lo, eq_lo]))
            gt, eq = (gt_hi + prod[0]) % self.p, prod[1]
        return gt[:, 0]

    async def ge(self, a: Any, b: Any, width: int | None = None) -> Sh:
        """[a ≥ b] for secret 0 ≤ a, b < 2^l, l = ``width`` (default: the engine's), element-wise."""
        width = self.bits if width is None else width
        diff = a - b + (1 << width)
        if not isinstance(diff, Sh):
            diff = self.const(diff)
        return await self.high_bit(diff % self.p, width)

    async def in_range(self, y: Sh, width: int) -> np.ndarray:
        """Public [0 ≤ y < 2^l], l = ``width``, for *arbitrary* field elements y (e.g. a cheater's shares).

        q = (y − (y mod 2^l as reconstructed)) / 2^l is 0 exactly when y is the field
        image of an integer in [0, 2^l): the reconstructed low part is always in that
        range, so q = 0 forces y into it. Only [q = 0] is opened.
        """
        return await self.is_zero_public(await self.high_bit(y, width))

    # -- shares from bidders ------------------------------------------------------

    def _consistency_matrix(self) -> np.ndarray:
        """Rows A with share_j = Σ_i A[j, i]·share_i (i ≤ t) for every degree-t sharing."""
        xs = list(range(1, self.t + 2))
        rows = []
        for xj in range(self.t + 2, self.m + 1):
            row = []
            for i, xi in enumerate(xs):
                num, den = 1, 1
                for k, xk in enumerate(xs):
                    if k != i:
                        num, den = num * (xj - xk) % self.p, den * (xi - xk) % self.p
                row.append(self._small(num * pow(den, -1, self.p) % self.p))
            rows.append(row)
        return np.array(rows, dtype=object).reshape(self.m - self.t - 1, self.t + 1)

    def digest_masks(self, digest: bytes, n: int) -> np.ndarray:
        """[ρ]_t for the bid with this header digest: PRSS on the digest as common input.

        Every party derives the same sharing for the same bid whatever order the bids
        arrived in, so it can be computed at intake, before the deadline.
        """
        prfs = self.mpc.prfs(self.field.order)
        return thresha.np_pseudorandom_share(self.field, self.m, self.pid, prfs,
                                             b"consistency:" + digest, n).value

    def zero_at_origin(self, w: np.ndarray) -> np.ndarray:
        """Per column of all m published degree-2t shares (rows = parties): is the secret 0?"""
        coeffs = np.array(self._lagrange(tuple(range(1, self.m + 1))), dtype=object)
        return ((coeffs @ w) % self.p == 0).astype(bool)

    def consistent_columns(self, w: np.ndarray) -> np.ndarray:
        """For the m published masked shares per value (rows = parties): degree ≤ t?

        Each party publishes share + [ρ]_t (``digest_masks``); honest columns stay on a
        degree-t polynomial whose constant term is masked by ρ, so only the
        (in)consistency is learnt.
        """
        predicted = (self._check @ w[: self.t + 1]) % self.p
        return np.all(predicted == w[self.t + 1:], axis=0)
