"""keccak256, the one implementation the package uses on hot paths.

Every bundle costs about seven keccak256 calls (request body, EIP-191 message, two
public keys → addresses, transaction signing hash and hash, bundle hash). When the C
``safe-pysha3`` package is installed its ``keccak_256`` is used (~0.9 µs per short
input here, against ~3.8 µs through ``eth_hash``'s pycryptodome backend); otherwise
``eth_hash`` — the two give identical digests.
"""

from __future__ import annotations

try:
    from sha3 import keccak_256

    def keccak(data: bytes) -> bytes:
        return keccak_256(data).digest()
except ImportError:  # the optional fast backend is not installed
    from eth_hash.auto import keccak  # noqa: F401
