"""Sealing a bid inside the jail, for a slot the host says is sealed (``serve --sealed``).

The algorithm's bid must reach the committee without the host reading it, so the jail
does on its own side what a builder's SDK does (``privacy.client.seal`` with 128-bit
bit-sharing, ``privacy.envelope``): Shamir shares of the bid's bits plus the two check
masks, a salted commitment, one salted hash per server, and each server's share message
in an envelope only that server opens — ECDH on secp256k1 with a fresh key, HKDF-SHA256,
AES-256-GCM bound to the header digest and the server's index. The host gets the
commitment, the share hashes and the envelopes, signs the header with a one-run key
whose address labels the bid, and forwards it; it never has the amount.

Standard library plus the system's OpenSSL libcrypto for AES-GCM (by ctypes; the
system's ``cryptography``, Debian python3-cryptography, when libcrypto does not load),
both under /usr, read-only in the jail: the jail has no mevauction and no pip packages.
Keccak-256 (hashlib's sha3_256 pads differently, and OpenSSL 3.0 has no Keccak-256):
the service's compiled one, pycryptodome's raw C library, which the host binds
read-only at ``KECCAK_LIB`` in a sealed run's jail and which ctypes loads (it has no
Python ABI to match the jail's interpreter); in pure Python when it is absent or fails
its known answer — ≈ 15–30 ms per 4 KB share hash under load, against microseconds.
Tests: tests/sandbox/test_sealed_jail.py checks every value byte for byte against
mevauction.privacy, both Keccaks, in the jail and out.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import secrets
import sys

DIST = "/usr/lib/python3/dist-packages"  # the interpreter runs with -S: no site packages
HEADER_DOMAIN = b"mevauction.sealed.header/1"
COMMIT_DOMAIN = b"mevauction.sealed.commit/1"
SHARE_DOMAIN = b"mevauction.sealed.share/1"
ENVELOPE_DOMAIN = b"mevauction.sealed.envelope/1"
BIND_SKETCH = 40  # privacy.twoparty.binding: the sketch rows, the MAC key domain, the digest domain
BIND_KEY_DOMAIN = b"mevauction/2pc/mac-key/1"
BIND_DIGEST_DOMAIN = b"mevauction/2pc/binding/1"

_RC = [0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000, 0x000000000000808B,
       0x0000000080000001, 0x8000000080008081, 0x8000000000008009, 0x000000000000008A, 0x0000000000000088,
       0x0000000080008009, 0x000000008000000A, 0x000000008000808B, 0x800000000000008B, 0x8000000000008089,
       0x8000000000008003, 0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
       0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008]
_ROT = [[0, 36, 3, 41, 18], [1, 44, 10, 45, 2], [62, 6, 43, 15, 61], [28, 55, 25, 21, 56], [27, 20, 39, 8, 14]]
_M = (1 << 64) - 1


# Lane (x, y) is state[x + 5 y]; rho-pi moves lane i to _PI[i], rotated by _RHO[i].
_PI = [((i // 5) + 5 * ((2 * (i % 5) + 3 * (i // 5)) % 5)) for i in range(25)]
_RHO = [_ROT[i % 5][i // 5] for i in range(25)]


def _keccak_f(a: list) -> None:
    for rc in _RC:
        c = [a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20] for x in range(5)]
        d = [c[x - 1] ^ (((c[(x + 1) % 5] << 1) | (c[(x + 1) % 5] >> 63)) & _M) for x in range(5)]
        b = [0] * 25
        for i in range(25):
            v = a[i] ^ d[i % 5]
            n = _RHO[i]
            b[_PI[i]] = ((v << n) | (v >> (64 - n))) & _M if n else v
        for y in range(0, 25, 5):
            b0, b1, b2, b3, b4 = b[y:y + 5]
            a[y], a[y + 1], a[y + 2], a[y + 3], a[y + 4] = (
                b0 ^ (~b1 & b2), b1 ^ (~b2 & b3), b2 ^ (~b3 & b4), b3 ^ (~b4 & b0), b4 ^ (~b0 & b1))
        a[0] ^= rc


KECCAK_LIB = "/keccak/_keccak.so"  # where jail.py binds it
_EMPTY = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")  # keccak256(b"")


def keccak256(data: bytes) -> bytes:
    lib = _keccak_lib()
    return _keccak256_py(data) if lib is None else _keccak256_c(lib, data)


def _keccak256_c(lib, data: bytes) -> bytes:
    import ctypes

    state = ctypes.c_void_p()
    if lib.keccak_init(ctypes.byref(state), 64, 24):  # capacity 512 bits, 24 rounds
        raise MemoryError("keccak_init")
    try:
        out = ctypes.create_string_buffer(32)
        if lib.keccak_absorb(state, bytes(data), len(data)) or lib.keccak_digest(state, out, 32, 0x01):
            raise ValueError("the compiled keccak refused its input")
        return out.raw
    finally:
        lib.keccak_destroy(state)


def preload(ephemeral: int = 8) -> None:
    """Before the slot (the run's budget): load the compiled libraries, and make
    ``ephemeral`` envelope keys — half of an envelope's curve arithmetic is k·G, which
    needs no recipient; each key is used once (:func:`encrypt`)."""
    _keccak_lib()
    _libcrypto()
    while len(_EPHEMERAL) < ephemeral:
        k = 1 + secrets.randbelow(_N - 1)
        _EPHEMERAL.append((k, _compress(_mul(k, _G))))


# Envelope keys made ahead (preload): (k, compressed k·G), each taken once.
_EPHEMERAL: list = []


@functools.cache
def _keccak_lib():
    """The bound C Keccak with its prototypes, or None (then pure Python); loaded once."""
    import ctypes

    try:
        lib = ctypes.CDLL(KECCAK_LIB)
        p, size, u8 = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint8
        lib.keccak_init.argtypes = [ctypes.POINTER(p), size, u8]
        lib.keccak_absorb.argtypes = [p, ctypes.c_char_p, size]
        lib.keccak_digest.argtypes = [p, ctypes.c_char_p, size, u8]
        lib.keccak_destroy.argtypes = [p]
        # Another pycryptodome's prototypes would show here, not in a committee's refusal.
        return lib if _keccak256_c(lib, b"") == _EMPTY else None
    except (OSError, AttributeError, MemoryError, ValueError):  # absent, not that library, or wrong
        return None


def _keccak256_py(data: bytes) -> bytes:
    rate = 136
    q = rate - len(data) % rate  # 0x01 … 0x80; one byte of padding holds both (0x81)
    padded = bytes(data) + (b"\x81" if q == 1 else b"\x01" + b"\x00" * (q - 2) + b"\x80")
    state = [0] * 25
    for off in range(0, len(padded), rate):
        for i in range(rate // 8):
            state[i] ^= int.from_bytes(padded[off + 8 * i:off + 8 * i + 8], "little")
        _keccak_f(state)
    return b"".join(state[i].to_bytes(8, "little") for i in range(4))


def _word(v: int) -> bytes:
    return v.to_bytes(32, "big")


def canonical(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def share(value: int, parties: int, threshold: int, p: int) -> list:
    coefficients = [value % p] + [secrets.randbelow(p) for _ in range(threshold)]
    out = []
    for x in range(1, parties + 1):
        y = 0
        for c in reversed(coefficients):
            y = (y * x + c) % p
        out.append(y)
    return out


def commitment(auction: str, bidder: str, values: list, salt: bytes) -> str:
    payload = COMMIT_DOMAIN + auction.encode() + b"\0" + bidder.encode() + b"\0"
    return "0x" + keccak256(payload + b"".join(_word(v) for v in values) + salt).hex()


def share_hash(auction: str, bidder: str, index: int, shares: list, nonce: bytes) -> str:
    payload = SHARE_DOMAIN + auction.encode() + b"\0" + bidder.encode() + b"\0" + bytes([index])
    return "0x" + keccak256(payload + b"".join(_word(s) for s in shares) + nonce).hex()


def header_digest(unsigned: dict) -> bytes:
    return keccak256(HEADER_DOMAIN + canonical(unsigned))


def encrypt(recipient: str, plaintext: bytes, context: bytes) -> str:
    """envelope.encrypt: ephemeral pub (33) ‖ nonce (12) ‖ AES-GCM ciphertext ‖ tag (16)."""
    to = bytes.fromhex(recipient.removeprefix("0x"))
    if _EPHEMERAL:
        k, eph_pub = _EPHEMERAL.pop()
    else:
        k = 1 + secrets.randbelow(_N - 1)
        eph_pub = _compress(_mul(k, _G))
    # coincurve's ecdh (what the committee opens with) is sha256 of the compressed shared point.
    shared = hashlib.sha256(_compress(_mul(k, _decompress(to)))).digest()
    key = _hkdf(shared, eph_pub + to, ENVELOPE_DOMAIN)
    nonce = secrets.token_bytes(12)
    return "0x" + (eph_pub + nonce + aes_gcm(key, nonce, plaintext, context)).hex()


def aes_gcm(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """AES-256-GCM: ciphertext ‖ 16-byte tag. Through the system's libcrypto by ctypes
    when it loads (importing ``cryptography`` costs ≈ 190 ms of a jail's start under
    load, docs/benchmarks/algorithms.md); else through ``cryptography``."""
    lib = _libcrypto()
    if lib is None:
        if DIST not in sys.path:
            sys.path.append(DIST)
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        return AESGCM(key).encrypt(nonce, plaintext, aad)
    import ctypes

    ctx = lib.EVP_CIPHER_CTX_new()
    if not ctx:
        raise MemoryError("EVP_CIPHER_CTX_new")
    try:
        n = ctypes.c_int()
        out = ctypes.create_string_buffer(len(plaintext) + 16)
        tag = ctypes.create_string_buffer(16)
        ok = (lib.EVP_EncryptInit_ex(ctx, lib.EVP_aes_256_gcm(), None, None, None) == 1
              and lib.EVP_CIPHER_CTX_ctrl(ctx, _SET_IVLEN, len(nonce), None) == 1
              and lib.EVP_EncryptInit_ex(ctx, None, None, key, nonce) == 1
              and lib.EVP_EncryptUpdate(ctx, None, ctypes.byref(n), aad, len(aad)) == 1
              and lib.EVP_EncryptUpdate(ctx, out, ctypes.byref(n), plaintext, len(plaintext)) == 1)
        written = n.value
        ok = ok and written == len(plaintext) and lib.EVP_EncryptFinal_ex(ctx, ctypes.byref(out, written),
                                                                          ctypes.byref(n)) == 1
        ok = ok and n.value == 0 and lib.EVP_CIPHER_CTX_ctrl(ctx, _GET_TAG, 16, tag) == 1
        if not ok:
            raise ValueError("libcrypto refused the AES-256-GCM encryption")
        return out.raw[:written] + tag.raw
    finally:
        lib.EVP_CIPHER_CTX_free(ctx)


_SET_IVLEN, _GET_TAG = 0x9, 0x10  # EVP_CTRL_GCM_SET_IVLEN, EVP_CTRL_GCM_GET_TAG


@functools.cache
def _libcrypto():
    """OpenSSL's libcrypto with the prototypes used here, or None (then ``cryptography``); loaded once."""
    import ctypes

    for name in ("libcrypto.so.3", "libcrypto.so.1.1"):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        p, i = ctypes.c_void_p, ctypes.c_int
        lib.EVP_CIPHER_CTX_new.restype = p
        lib.EVP_CIPHER_CTX_new.argtypes = []
        lib.EVP_CIPHER_CTX_free.argtypes = [p]
        lib.EVP_aes_256_gcm.restype = p
        lib.EVP_aes_256_gcm.argtypes = []
        lib.EVP_EncryptInit_ex.argtypes = [p, p, p, ctypes.c_char_p, ctypes.c_char_p]
        lib.EVP_CIPHER_CTX_ctrl.argtypes = [p, i, i, p]
        lib.EVP_EncryptUpdate.argtypes = [p, p, ctypes.POINTER(i), ctypes.c_char_p, i]
        lib.EVP_EncryptFinal_ex.argtypes = [p, p, ctypes.POINTER(i)]
        return lib
    return None


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()  # 32 bytes: one block


# secp256k1, affine coordinates: two scalar multiplications per envelope, a few ms.
_P = 2**256 - 2**32 - 977
_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_G = (0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
      0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8)


def _compress(pt) -> bytes:
    return bytes([2 + (pt[1] & 1)]) + pt[0].to_bytes(32, "big")


def _decompress(raw: bytes):
    if len(raw) != 33 or raw[0] not in (2, 3):
        raise ValueError("not a compressed secp256k1 public key")
    x = int.from_bytes(raw[1:], "big")
    y = pow((x * x * x + 7) % _P, (_P + 1) // 4, _P)
    if (y * y - x * x * x - 7) % _P:
        raise ValueError("not a point on secp256k1")
    return x, y if y & 1 == raw[0] & 1 else _P - y


def _double(pt):
    x, y, z = pt
    if not y:
        return (0, 0, 0)
    s = 4 * x * y * y % _P
    m = 3 * x * x % _P  # a = 0
    x3 = (m * m - 2 * s) % _P
    return x3, (m * (s - x3) - 8 * pow(y, 4, _P)) % _P, 2 * y * z % _P


def _add(p1, p2):
    # Jacobian coordinates: no inversion until the end; z = 0 is the point at infinity.
    if not p1[2]:
        return p2
    if not p2[2]:
        return p1
    (x1, y1, z1), (x2, y2, z2) = p1, p2
    u1, u2 = x1 * z2 * z2 % _P, x2 * z1 * z1 % _P
    s1, s2 = y1 * pow(z2, 3, _P) % _P, y2 * pow(z1, 3, _P) % _P
    if u1 == u2:
        return _double(p1) if s1 == s2 else (0, 0, 0)
    h, r = (u2 - u1) % _P, (s2 - s1) % _P
    h2 = h * h % _P
    h3 = h * h2 % _P
    x3 = (r * r - h3 - 2 * u1 * h2) % _P
    return x3, (r * (u1 * h2 - x3) - s1 * h3) % _P, h * z1 * z2 % _P


def _mul(k: int, point):
    acc, cur = (0, 0, 0), (point[0], point[1], 1)
    while k:
        if k & 1:
            acc = _add(acc, cur)
        cur = _double(cur)
        k >>= 1
    x, y, z = acc
    zi = pow(z, -1, _P)
    return x * zi * zi % _P, y * pow(zi, 3, _P) % _P


def _bind(shares: list[int], bits: int) -> list[dict]:
    """Each party's MACs on the other's share, as ``privacy.twoparty.binding.deal`` makes them:
    party p's bits are its share then a 40-bit mask; the other party's seed gives the keys
    K_l and α (SHAKE-256), party p gets T_l = K_l XOR bit_l·α."""
    length = bits + BIND_SKETCH
    masks, seeds = [secrets.randbits(BIND_SKETCH) for _ in shares], [secrets.token_bytes(32) for _ in shares]
    out = []
    for p, share in enumerate(shares):
        x = share | masks[p] << bits
        raw = hashlib.shake_256(BIND_KEY_DOMAIN + seeds[1 - p]).digest(8 * (length + 1))
        words = [int.from_bytes(raw[8 * i:8 * i + 8], "little") for i in range(length + 1)]
        tags = b"".join((words[i] ^ (words[length] if x >> i & 1 else 0)).to_bytes(8, "little") for i in range(length))
        out.append({"mask": f"{masks[p]:x}", "tags": tags.hex(), "key": seeds[p].hex()})
    return out


def _bind_digest(material: dict) -> int:
    body = "|".join(material[k] for k in ("mask", "tags", "key")).encode()
    return int.from_bytes(keccak256(BIND_DIGEST_DOMAIN + body), "big")


def seal(context: dict, amount: int) -> dict:
    """What the host forwards for ``amount`` wei: {commitment, share_hashes, ciphertexts}.

    ``context`` is the slot message's ``sealed`` object: the auction id, the bid's label
    (the address of the host's one-run signing key), the servers' pinned keys, the
    threshold, the width and its field modulus. With ``"backend": "2pc"`` the two members
    are the garbler and the evaluator and the bid is XOR-split instead: a uniform mask
    for the garbler, bid XOR mask for the evaluator, each with the MACs that bind the
    other's share (``privacy.twoparty.relay``, ``binding``).
    """
    bits = int(context["bits"])
    members = list(context["members"])
    auction, label, m = str(context["auction"]), str(context["label"]), len(members)
    if not 0 <= amount < 1 << bits:
        raise ValueError(f"a sealed bid must be in [0, 2^{bits}) wei")
    binds = None
    if context.get("backend") == "2pc":
        mask = secrets.randbits(bits)
        per_server = [[mask], [mask ^ amount]]
        binds = _bind([mask, mask ^ amount], bits)  # the MACs that bind each party's share
    else:
        p, t = int(context["modulus"]), int(context["threshold"])
        per_value = [share((amount >> j) & 1, m, t, p) for j in range(bits)]
        per_value += [share(secrets.randbelow(p), m, t, p), share(0, m, 2 * t, p)]  # the check masks
        per_server = [[s[j] for s in per_value] for j in range(m)]
    nonces = [secrets.token_bytes(32) for _ in range(m)]
    hashed = per_server if binds is None else [[*per_server[j], _bind_digest(binds[j])] for j in range(m)]
    hashes = [share_hash(auction, label, j, hashed[j], nonces[j]) for j in range(m)]
    unsigned = {"auction": auction, "bidder": label, "signer": label, "side": "builder",
                "commitment": commitment(auction, label, [amount], secrets.token_bytes(32)), "share_hashes": hashes}
    digest = header_digest(unsigned)
    ciphertexts = [encrypt(members[j], canonical({"shares": [hex(s) for s in per_server[j]],
                                                  "nonce": "0x" + nonces[j].hex(),
                                                  **({} if binds is None else {"bind": binds[j]})}),
                           digest + bytes([j]))
                   for j in range(m)]
    return {"commitment": unsigned["commitment"], "share_hashes": hashes, "ciphertexts": ciphertexts}
