"""Compatibility: the third-party ``flashbots`` PyPI client talks to ``mevauction serve``."""

import importlib
import sys

import pytest
from eth_account import Account
from eth_utils import to_checksum_address

# flashbots 2.0.0 (the newest on PyPI) imports eth_account._utils.typed_transactions, which
# eth-account 0.13 moved to eth_account.typed_transactions; alias it so the unmodified
# client can be imported next to the eth-account this project uses.
sys.modules.setdefault(
    "eth_account._utils.typed_transactions", importlib.import_module("eth_account.typed_transactions")
)
from flashbots import flashbot  # noqa: E402
from hexbytes import HexBytes  # noqa: E402
from service_harness import ServerProcess  # noqa: E402
from web3 import HTTPProvider, Web3  # noqa: E402

from mevauction.client import Client  # noqa: E402

pytestmark = pytest.mark.slow  # starts a service process


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc = ServerProcess(f"sqlite:///{tmp_path_factory.mktemp('fb') / 'svc.db'}", slot_seconds=1.0).start()
    yield proc
    proc.stop()


def test_flashbots_client_sends_replaces_and_cancels(server):
    auth = Account.create()  # the Flashbots reputation key
    sender = Account.create()
    w3 = Web3(HTTPProvider(server.url))
    flashbot(w3, auth, server.url)
    target = w3.eth.block_number + 3

    def signed(nonce: int, tip: int) -> HexBytes:
        tx = {"type": 2, "chainId": 31337, "nonce": nonce, "maxFeePerGas": tip, "maxPriorityFeePerGas": tip,
              "gas": 21000, "to": to_checksum_address("0x" + "33" * 20), "value": 1, "data": b""}
        signed_tx = sender.sign_transaction(tx)
        return HexBytes(getattr(signed_tx, "raw_transaction", None) or signed_tx.rawTransaction)

    response = w3.flashbots.send_bundle([{"signed_transaction": signed(0, 10**9)}], target_block_number=target)
    bundle_hash = "0x" + bytes(response.bundle_hash()).hex()
    with Client(server.url) as reader:
        stored = reader.order(bundle_hash)
        assert stored["status"] == "pending" and stored["signer"] == auth.address.lower()
        assert stored["slot"] == target

        first = w3.flashbots.send_raw_bundle([signed(1, 2 * 10**9)], target, opts={"replacementUuid": "fb-uuid"})
        second = w3.flashbots.send_raw_bundle([signed(1, 3 * 10**9)], target, opts={"replacementUuid": "fb-uuid"})
        first_hash, second_hash = first["bundleHash"], second["bundleHash"]
        assert reader.order(first_hash)["status"] == "cancelled"
        assert w3.flashbots.cancel_bundles("fb-uuid") == {"bundleHashes": [second_hash]}
        assert reader.order(second_hash)["status"] == "cancelled"

        report = reader.wait_report(target, timeout=20)
        assert report["block"] == [bundle_hash]
        assert reader.order(bundle_hash)["status"] == "included"
