"""Digests and signers reproduced from primev/mev-commit's own test vectors.

Sources (primev/mev-commit @ 79f1e932):
* p2p/pkg/preconfirmation/encryptor/encryptor_test.go — TestHashing ("bid",
  "preConfirmation") and TestVerify;
* contracts/test/core/PreconfManagerTest.sol — the `_testCommitmentAliceBob` fixture
  (bid signature by makeAddrAndKey("alice"), commitment signature by "bob").
"""

import pytest

from mevauction.eth.keccak import keccak
from mevauction.preconf import hashing
from mevauction.preconf.keys import BadSignature, Signer, recover_signer
from mevauction.preconf.messages import Bid, SignedBid, commitment_digest

CHAIN_ID = 31337
CONTRACT = "0xA4AD4f68d0b91CFD19687c881e50f3A00242828c"

# encryptor_test.go TestHashing/bid: fields, and the expected hash "sourced from the solidity contract".
GO_BID = Bid(txn_hash="0xkartik", reverting_tx_hashes="0xkartik", bid_amt=2, slash_amt=0, block_number=2,
             decay_start=10, decay_end=20, bidder_pk_x=1, bidder_pk_y=2, bid_options=bytes.fromhex("1234"))
GO_BID_HASH = "63fc79776bb6995561cf5850551f6abf99471e5130bd3785feff90285f7dda26"
# encryptor_test.go TestHashing/preConfirmation: bid signature, shared key (1, 2), expected commitment hash.
GO_BID_SIGNATURE = ("61d34b1a021c4cd494d3db724251f21ab9359d69e14cc11653b7008609c09f493b404d3749248e"
                    "4357a51cb1a3a070c8443a38e01a174aa731b3fd9a0769f9bd01")
GO_COMMITMENT_HASH = "590792f6362caaf7767383249b2a8a249d8f164cb9a62131847cd80870d70207"
# encryptor_test.go TestHashing: alicePrivateKey; TestVerify: signature, digest and expected owner.
ALICE_KEY = "9C0257114EB9399A2985F8E75DAD7600C5D89FE3824FFA99EC1C3EB8BF3B0501"
VERIFY_HASH = "8d1f669e1d55329ba0dc133fba063c06c8ae146b8e815732f9951930c807ff7f"
VERIFY_SIG = ("aeed5b345d04360c6ad52d4fb4fce32eec8a552f87686afb39ceea04f9fd1a782b180e4eef5e02af7701529284"
              "0c541e2681c8e165b44be1d8276aba7211bde21b")
VERIFY_OWNER = "0x328809Bc894f92807417D2dAD6b7C998c1aFdac6"
# PreconfManagerTest.sol _testCommitmentAliceBob: commitmentDigest and commitmentSignature (bob).
SOL_COMMITMENT_DIGEST = "87d7e787de6386cba19d3d5680a8feaa5378c46f1c5e13c622ffcdb354485d23"
SOL_COMMITMENT_SIG = ("a0b508b09c6942d73b8feb4feb308ea0b753e14e32cff231f75348f25feb07b02b97743c4c9c4938"
                      "25ec6730e2bc24a513d09a2996a20beac2013f134c047cd71b")


def test_bid_digest_matches_go_and_solidity():
    assert GO_BID.digest(CHAIN_ID, CONTRACT).hex() == GO_BID_HASH


def test_commitment_digest_matches_go():
    digest = commitment_digest(bytes.fromhex(GO_BID_HASH), bytes.fromhex(GO_BID_SIGNATURE), (1, 2),
                               CHAIN_ID, CONTRACT)
    assert digest.hex() == GO_COMMITMENT_HASH


def test_domain_separator_is_not_stock_eip712():
    # Stock EIP-712 hashes name and version; mev-commit ABI-encodes the strings themselves.
    stock = keccak(hashing.DOMAIN_TYPEHASH + keccak(b"PreConfBid") + keccak(b"1")
                              + hashing.word(CHAIN_ID) + b"\x00" * 12 + hashing.address_bytes(CONTRACT))
    ours = hashing.domain_separator("PreConfBid", CHAIN_ID, CONTRACT)
    assert ours != stock
    assert hashing.typed_digest(stock, b"\x00" * 32) != hashing.typed_digest(ours, b"\x00" * 32)


def test_go_bid_signature_recovers_alice_and_is_reproduced():
    alice = Signer(ALICE_KEY)
    assert recover_signer(bytes.fromhex(GO_BID_HASH), bytes.fromhex(GO_BID_SIGNATURE)) == alice.address
    ours = alice.sign(bytes.fromhex(GO_BID_HASH))
    assert ours[:64].hex() == GO_BID_SIGNATURE[:128]      # same RFC 6979 signature
    assert ours[64] == 27 + int(GO_BID_SIGNATURE[128:], 16)  # v moved from 0/1 to 27/28


def test_go_verify_vector_recovers_owner():
    assert recover_signer(bytes.fromhex(VERIFY_HASH), bytes.fromhex(VERIFY_SIG)) == VERIFY_OWNER


def test_foundry_alice_and_bob_signatures_reproduced_exactly():
    alice, bob = Signer.from_label("alice"), Signer.from_label("bob")
    assert alice.address == VERIFY_OWNER  # Foundry's makeAddr("alice")
    assert alice.sign(bytes.fromhex(VERIFY_HASH)).hex() == VERIFY_SIG
    assert bob.sign(bytes.fromhex(SOL_COMMITMENT_DIGEST)).hex() == SOL_COMMITMENT_SIG
    assert recover_signer(bytes.fromhex(SOL_COMMITMENT_DIGEST), bytes.fromhex(SOL_COMMITMENT_SIG)) == bob.address


def test_signatures_use_v_27_28():
    signer = Signer.from_label("carol")
    for i in range(8):
        assert signer.sign(bytes([i]) * 32)[64] in (27, 28)


def test_high_s_and_bad_v_are_refused():
    sig = bytearray(bytes.fromhex(VERIFY_SIG))
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    s = int.from_bytes(sig[32:64], "big")
    malleable = bytes(sig[:32]) + (n - s).to_bytes(32, "big") + bytes((55 - sig[64],))
    with pytest.raises(BadSignature):
        recover_signer(bytes.fromhex(VERIFY_HASH), malleable)
    sig[64] = 29
    with pytest.raises(BadSignature):
        recover_signer(bytes.fromhex(VERIFY_HASH), bytes(sig))


def test_signed_bid_round_trip_and_tamper():
    alice = Signer.from_label("alice")
    signed = SignedBid.sign(GO_BID, alice, CHAIN_ID, CONTRACT)
    again = SignedBid.from_json(signed.to_json(), CHAIN_ID, CONTRACT)
    assert again == signed and again.bidder() == alice.address
    other_chain = SignedBid(GO_BID, 1, CONTRACT, GO_BID.digest(1, CONTRACT), signed.signature)
    assert other_chain.bidder() != alice.address  # a signature binds the chain id
