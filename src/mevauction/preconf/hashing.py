"""mev-commit's typed-data digests for bids and commitments, byte for byte.

Re-derived from primev/mev-commit ``p2p/pkg/preconfirmation/encryptor/encryptor.go``
(``ComputeDomainSeparator``, ``GetBidHash``, ``GetPreConfirmationHash``) and the
``PreconfManager`` contract (``getBidHash``, ``getPreConfHash``). Two departures from
stock EIP-712 matter for compatibility:

* the domain separator ABI-encodes ``name`` and ``version`` as dynamic *strings*
  (offset + length + padded bytes), where EIP-712 would put their keccak hashes;
* bids and commitments use different domain names ("PreConfBid" and
  "OpenedCommitment") under the same version "1", chain id and contract.

The digest itself is the usual ``keccak(0x1901 || domainSeparator || structHash)``.
"""

from __future__ import annotations

from functools import lru_cache

from mevauction.eth import fields
from mevauction.eth.keccak import keccak

UINT64_MAX = (1 << 64) - 1
UINT256_MAX = (1 << 256) - 1

DOMAIN_TYPE = b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
BID_TYPE = (
    b"PreConfBid(string txnHash,string revertingTxHashes,uint256 bidAmt,uint64 blockNumber,"
    b"uint64 decayStartTimeStamp,uint64 decayEndTimeStamp,uint256 slashAmt,uint256 bidderPKx,"
    b"uint256 bidderPKy,bytes bidOptions)"
)
COMMITMENT_TYPE = b"OpenedCommitment(bytes32 bidHash,string signature,uint256 sharedKeyX,uint256 sharedKeyY)"
BID_DOMAIN_NAME = "PreConfBid"
COMMITMENT_DOMAIN_NAME = "OpenedCommitment"
DOMAIN_VERSION = "1"


DOMAIN_TYPEHASH = keccak(DOMAIN_TYPE)
BID_TYPEHASH = keccak(BID_TYPE)
COMMITMENT_TYPEHASH = keccak(COMMITMENT_TYPE)


def word(value: int) -> bytes:
    """One 32-byte ABI word holding an unsigned integer."""
    return value.to_bytes(32, "big")


def _abi_string_tail(text: str) -> bytes:
    raw = text.encode()
    padded = raw + b"\x00" * (-len(raw) % 32)
    return word(len(raw)) + padded


def address_bytes(address: str, field: str = "address") -> bytes:
    """20 bytes of a 0x-prefixed hex address (a mixed-case one must carry a valid checksum)."""
    return bytes.fromhex(fields.address(address, field)[2:])


@lru_cache(maxsize=64)
def domain_separator(name: str, chain_id: int, contract: str) -> bytes:
    """mev-commit's domain separator: ``abi.encode(typeHash, name, "1", chainId, contract)``.

    The two strings are dynamic ABI values, so the head carries their offsets and the
    tail their lengths and right-padded bytes.
    """
    name_tail = _abi_string_tail(name)
    version_tail = _abi_string_tail(DOMAIN_VERSION)
    head_size = 5 * 32
    encoded = (
        DOMAIN_TYPEHASH
        + word(head_size)
        + word(head_size + len(name_tail))
        + word(chain_id)
        + b"\x00" * 12 + address_bytes(contract)
        + name_tail
        + version_tail
    )
    return keccak(encoded)


def typed_digest(separator: bytes, struct_hash: bytes) -> bytes:
    return keccak(b"\x19\x01" + separator + struct_hash)


def bid_struct_hash(txn_hash: str, reverting_tx_hashes: str, bid_amt: int, block_number: int,
                    decay_start: int, decay_end: int, slash_amt: int, bidder_pk_x: int,
                    bidder_pk_y: int, bid_options: bytes) -> bytes:
    """``keccak(abi.encode(BID_TYPEHASH, keccak(txnHash), ..., keccak(bidOptions)))``.

    Strings and bytes enter as their keccak hashes; every other field is one word.
    """
    return keccak(
        BID_TYPEHASH
        + keccak(txn_hash.encode())
        + keccak(reverting_tx_hashes.encode())
        + word(bid_amt)
        + word(block_number)
        + word(decay_start)
        + word(decay_end)
        + word(slash_amt)
        + word(bidder_pk_x)
        + word(bidder_pk_y)
        + keccak(bid_options)
    )


def commitment_struct_hash(bid_digest: bytes, bid_signature: bytes, shared_key_x: int, shared_key_y: int) -> bytes:
    """``keccak(abi.encode(COMMITMENT_TYPEHASH, bidHash, keccak(bidSignature), x, y))``."""
    return keccak(
        COMMITMENT_TYPEHASH + bid_digest + keccak(bid_signature) + word(shared_key_x) + word(shared_key_y)
    )
