"""keccak256, the one implementation the package uses.

Every bundle costs about seven keccak256 calls (request body, EIP-191 message, two
public keys → addresses, transaction signing hash and hash, bundle hash). When the C
``safe-pysha3`` package is installed its ``keccak_256`` is used (~0.9 µs per short
input, against ~3.8 µs through ``eth_hash``'s pycryptodome backend); otherwise
``eth_hash``. The two give identical digests (tests/eth checks it).
"""

from __future__ import annotations

from collections.abc import Callable

keccak: Callable[[bytes], bytes]

try:
    from sha3 import keccak_256

    def _keccak_c(data: bytes) -> bytes:
        digest: bytes = keccak_256(data).digest()
        return digest

    keccak = _keccak_c
except ImportError:  # the optional fast backend is not installed
    from eth_hash.auto import keccak as _keccak_py

    keccak = _keccak_py

__all__ = ["keccak"]
