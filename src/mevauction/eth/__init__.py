"""Ethereum primitives: the one home for them in the package.

In the spirit of execution-specs' ``ethereum/crypto`` and ``ethereum/rlp``: plain
functions named after the rule they implement, importing nothing else of mevauction.

- :mod:`.keccak` — keccak256 (C backend when installed).
- :mod:`.rlp` — canonical RLP encode/decode.
- :mod:`.secp256k1` — one ``sign``, one ``recover``, one address function, one
  low-s policy, one :class:`BadSignature`.
- :mod:`.transactions` — typed transactions: decode (types 0–4), encode, sign.
- :mod:`.fields` — bounded parsers for JSON values: hex data, quantities, addresses,
  32-byte words, wei amounts; every error names its field.
- :mod:`.messages` — EIP-191 personal messages and Flashbots request signatures.
- :mod:`.units` — wei to ether text without floats.
- :mod:`.errors` — :class:`InputError`, the one error a user's bad input raises.
"""
