"""Bids and commitments in mev-commit's field layout, their digests and signatures.

A bid's JSON uses the field names of mev-commit's signed bid type (spec/preconf.md):
``txnHash``, ``revertingTxHashes``, ``bidAmt``, ``blockNumber``,
``decayStartTimeStamp``, ``decayEndTimeStamp``, ``slashAmt``, ``bidderPKx``,
``bidderPKy``, ``bidOptions``. ``txnHash`` and ``revertingTxHashes`` are hashed as the
exact strings given (comma-joined lists). ``bidderPKx/y`` is the bid's BN254 key
(see :mod:`mevauction.preconf.nike`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mevauction.errors import InputError, require
from mevauction.eth import fields, transactions
from mevauction.preconf import hashing
from mevauction.preconf.keys import BadSignature, Signer, recover_signer

BID_FORMAT = "mevauction.preconf.bid/1"
COMMITMENT_FORMAT = "mevauction.preconf.commitment/1"


def parse_uint(value: object, field_name: str, bits: int) -> int:
    """An unsigned integer given as a JSON number or a decimal string (as mev-commit's
    ``SetString(…, 10)``), below 2**bits."""
    maximum = (1 << bits) - 1
    if isinstance(value, str):
        return fields.decimal(value, field_name, maximum)
    return fields.integer(value, field_name, maximum)


def parse_hex_bytes(value: object, field_name: str) -> bytes:
    """Hex bytes with or without ``0x`` (mev-commit writes them bare)."""
    return fields.data(value, field_name, prefix=False)


def parse_hash32(value: object, field_name: str) -> bytes:
    raw = parse_hex_bytes(value, field_name)
    require(len(raw) == 32, field_name, f"must be 32 bytes, got {len(raw)}")
    return raw


def parse_signature(value: object, field_name: str) -> bytes:
    raw = parse_hex_bytes(value, field_name)
    require(len(raw) == 65, field_name, f"a signature has 65 bytes, got {len(raw)}")
    return raw


def tx_hash_list(joined: str) -> list[str]:
    """The transactions a bid names, in order (mev-commit splits on ",")."""
    return joined.split(",") if joined else []


MAX_RAW_TXS = 64


def raw_transactions(value: object, txn_hash: str, where: str) -> tuple[bytes, ...]:
    """A bid's ``rawTransactions`` (mev-commit's field; not covered by the bid digest):
    hex strings, one per named hash, each decoding (:mod:`mevauction.eth.transactions`)
    to a signed transaction whose hash is the bid's hash at the same place."""
    if value is None:
        return ()
    require(isinstance(value, list) and len(value) <= MAX_RAW_TXS, where,
            f"must be a list of at most {MAX_RAW_TXS} hex strings")
    assert isinstance(value, list)
    hashes = tx_hash_list(txn_hash)
    require(len(value) == len(hashes), where, f"has {len(value)} transactions for {len(hashes)} hashes")
    out = []
    for i, text in enumerate(value):
        raw = fields.data(text, f"{where}[{i}]", prefix=False)
        tx = transactions.decode(raw, f"{where}[{i}]")
        if tx.hash.removeprefix("0x") != hashes[i]:
            raise InputError(f"{where}[{i}]", f"hashes to {tx.hash}, but the bid names {hashes[i]}")
        out.append(raw)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Bid:
    txn_hash: str
    bid_amt: int
    block_number: int
    decay_start: int
    decay_end: int
    reverting_tx_hashes: str = ""
    slash_amt: int = 0
    bidder_pk_x: int = 0
    bidder_pk_y: int = 0
    bid_options: bytes = b""

    @classmethod
    def from_json(cls, data: object, where: str = "bid") -> Bid:
        require(isinstance(data, dict), where, "must be a JSON object")
        assert isinstance(data, dict)

        def text(name: str, default: str | None = None) -> str:
            value = data.get(name, default)
            require(value is not None, f"{where}.{name}", "is required")
            require(isinstance(value, str), f"{where}.{name}", "must be a string")
            return value  # type: ignore[return-value]

        def number(name: str, bits: int, default: int | None = None) -> int:
            value = data.get(name, default)
            require(value is not None, f"{where}.{name}", "is required")
            return parse_uint(value, f"{where}.{name}", bits)

        return cls(
            txn_hash=text("txnHash"),
            reverting_tx_hashes=text("revertingTxHashes", ""),
            bid_amt=number("bidAmt", 256),
            block_number=number("blockNumber", 64),
            decay_start=number("decayStartTimeStamp", 64),
            decay_end=number("decayEndTimeStamp", 64),
            slash_amt=number("slashAmt", 256, 0),
            bidder_pk_x=number("bidderPKx", 256, 0),
            bidder_pk_y=number("bidderPKy", 256, 0),
            bid_options=parse_hex_bytes(data.get("bidOptions", ""), f"{where}.bidOptions"),
        )

    def to_json(self) -> dict:
        return {
            "txnHash": self.txn_hash,
            "revertingTxHashes": self.reverting_tx_hashes,
            "bidAmt": str(self.bid_amt),
            "blockNumber": self.block_number,
            "decayStartTimeStamp": self.decay_start,
            "decayEndTimeStamp": self.decay_end,
            "slashAmt": str(self.slash_amt),
            "bidderPKx": str(self.bidder_pk_x),
            "bidderPKy": str(self.bidder_pk_y),
            "bidOptions": "0x" + self.bid_options.hex(),
        }

    def digest(self, chain_id: int, contract: str) -> bytes:
        """mev-commit's ``GetBidHash`` for this bid (the 32-byte typed-data digest)."""
        separator = hashing.domain_separator(hashing.BID_DOMAIN_NAME, chain_id, contract)
        return hashing.typed_digest(separator, hashing.bid_struct_hash(
            self.txn_hash, self.reverting_tx_hashes, self.bid_amt, self.block_number,
            self.decay_start, self.decay_end, self.slash_amt, self.bidder_pk_x,
            self.bidder_pk_y, self.bid_options))

    @property
    def tx_hashes(self) -> list[str]:
        return tx_hash_list(self.txn_hash)


@dataclass(frozen=True, slots=True)
class SignedBid:
    """A bid, its digest under (chain id, PreconfManager address) and the bidder's signature."""

    bid: Bid
    chain_id: int
    contract: str
    digest: bytes
    signature: bytes
    raw_transactions: tuple[bytes, ...] = ()

    @property
    def key(self) -> str:
        """The signed bid's identity: digest and exact signature bytes, in hex. The digest
        alone is not one: anyone can sign a bidder's exact fields with another key."""
        return self.digest.hex() + self.signature.hex()

    @classmethod
    def sign(cls, bid: Bid, signer: Signer, chain_id: int, contract: str) -> SignedBid:
        digest = bid.digest(chain_id, contract)
        return cls(bid, chain_id, contract, digest, signer.sign(digest))

    def bidder(self) -> str:
        """The address that signed this bid; raises BadSignature if the digest or signature is off."""
        if self.bid.digest(self.chain_id, self.contract) != self.digest:
            raise BadSignature("digest", "does not match the bid fields")
        return recover_signer(self.digest, self.signature)

    @classmethod
    def from_json(cls, data: object, chain_id: int, contract: str, where: str = "bid") -> SignedBid:
        bid = Bid.from_json(data, where)
        assert isinstance(data, dict)
        require("signature" in data, f"{where}.signature", "is required on a signed bid")
        signature = parse_signature(data["signature"], f"{where}.signature")
        digest = bid.digest(chain_id, contract)
        if "digest" in data:
            given = parse_hash32(data["digest"], f"{where}.digest")
            require(given == digest, f"{where}.digest", "does not match the bid fields, chain id and contract")
        raws = raw_transactions(data.get("rawTransactions"), bid.txn_hash, f"{where}.rawTransactions")
        return cls(bid, chain_id, contract, digest, signature, raws)

    def to_json(self) -> dict:
        out = {**self.bid.to_json(), "digest": self.digest.hex(), "signature": self.signature.hex()}
        if self.raw_transactions:
            out["rawTransactions"] = ["0x" + raw.hex() for raw in self.raw_transactions]
        return out


def commitment_digest(bid_digest: bytes, bid_signature: bytes, shared_key: tuple[int, int],
                      chain_id: int, contract: str) -> bytes:
    """mev-commit's ``GetPreConfirmationHash`` / ``getPreConfHash``."""
    separator = hashing.domain_separator(hashing.COMMITMENT_DOMAIN_NAME, chain_id, contract)
    return hashing.typed_digest(separator, hashing.commitment_struct_hash(bid_digest, bid_signature, *shared_key))


@dataclass(frozen=True, slots=True)
class Commitment:
    """A provider's signed promise to include a bid's transactions in its block.

    ``digest`` and ``signature`` are what mev-commit stores on chain
    (``storeUnopenedCommitment``); the rest opens it.
    """

    signed_bid: SignedBid
    shared_key: tuple[int, int]
    digest: bytes
    signature: bytes
    dispatch_timestamp: int
    provider: str = field(default="")

    @classmethod
    def make(cls, signed_bid: SignedBid, shared_key: tuple[int, int], signer: Signer,
             dispatch_timestamp: int) -> Commitment:
        digest = commitment_digest(signed_bid.digest, signed_bid.signature, shared_key,
                                   signed_bid.chain_id, signed_bid.contract)
        return cls(signed_bid, shared_key, digest, signer.sign(digest), dispatch_timestamp, signer.address)

    def committer(self) -> str:
        """The address that signed the commitment, after recomputing its digest from the bid."""
        expected = commitment_digest(self.signed_bid.digest, self.signed_bid.signature, self.shared_key,
                                     self.signed_bid.chain_id, self.signed_bid.contract)
        if expected != self.digest:
            raise BadSignature("digest", "commitment digest does not match the bid, bid signature and shared key")
        return recover_signer(self.digest, self.signature)

    def to_json(self) -> dict:
        return {
            "format": COMMITMENT_FORMAT,
            "chainId": self.signed_bid.chain_id,
            "contract": self.signed_bid.contract,
            "bid": self.signed_bid.to_json(),
            "sharedKeyX": str(self.shared_key[0]),
            "sharedKeyY": str(self.shared_key[1]),
            "commitmentDigest": self.digest.hex(),
            "commitmentSignature": self.signature.hex(),
            "dispatchTimestamp": self.dispatch_timestamp,
            "provider": self.provider,
        }

    @classmethod
    def from_json(cls, data: object, where: str = "commitment") -> Commitment:
        require(isinstance(data, dict), where, "must be a JSON object")
        assert isinstance(data, dict)
        require(data.get("format") == COMMITMENT_FORMAT, f"{where}.format", f"must be {COMMITMENT_FORMAT!r}")
        chain_id = parse_uint(data.get("chainId"), f"{where}.chainId", 256)
        contract = data.get("contract")
        require(isinstance(contract, str), f"{where}.contract", "must be an address string")
        try:
            hashing.address_bytes(contract)  # type: ignore[arg-type]
        except ValueError as exc:
            raise InputError(f"{where}.contract", str(exc)) from None
        signed_bid = SignedBid.from_json(data.get("bid"), chain_id, contract, f"{where}.bid")  # type: ignore[arg-type]
        shared = (parse_uint(data.get("sharedKeyX"), f"{where}.sharedKeyX", 256),
                  parse_uint(data.get("sharedKeyY"), f"{where}.sharedKeyY", 256))
        return cls(
            signed_bid, shared,
            parse_hash32(data.get("commitmentDigest"), f"{where}.commitmentDigest"),
            parse_signature(data.get("commitmentSignature"), f"{where}.commitmentSignature"),
            parse_uint(data.get("dispatchTimestamp"), f"{where}.dispatchTimestamp", 64),
            str(data.get("provider", "")),
        )
