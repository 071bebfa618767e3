"""Compatibility: the third-party ``flashbots`` PyPI client talks to ``mevauction serve``."""

import importlib
import sys
import time

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
from web3.types import RPCEndpoint  # noqa: E402

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

    def stats(bundle: str) -> dict:  # the client's own signed read (pending bundles are private)
        return w3.flashbots.get_bundle_stats_v2(bundle, target)

    pending = stats(bundle_hash)
    assert pending["status"] == "pending" and pending["isSimulated"] is False
    assert pending["blockNumber"] == hex(target)

    first = w3.flashbots.send_raw_bundle([signed(1, 2 * 10**9)], target, opts={"replacementUuid": "fb-uuid"})
    second = w3.flashbots.send_raw_bundle([signed(1, 3 * 10**9)], target, opts={"replacementUuid": "fb-uuid"})
    first_hash, second_hash = first["bundleHash"], second["bundleHash"]
    assert stats(first_hash)["status"] == "cancelled"
    # A cancel must carry a signed timestamp (replay protection); the client's
    # cancel_bundles() sends none and is refused naming it, and the same call made through
    # the client's signing middleware with the timestamp added is accepted.
    with pytest.raises(ValueError, match="timestamp"):
        w3.flashbots.cancel_bundles("fb-uuid")
    cancelled = w3.manager.request_blocking(
        RPCEndpoint("eth_cancelBundle"), [{"replacementUuid": "fb-uuid", "timestamp": round(time.time(), 3)}])
    assert cancelled == [second_hash]
    assert stats(second_hash)["status"] == "cancelled"

    with Client(server.url) as reader:
        report = reader.wait_report(target, timeout=20)
        assert report["block"] == [bundle_hash]
        settled = stats(bundle_hash)
        assert settled["status"] == "included" and settled["isSimulated"] is True
        assert reader.order(bundle_hash)["status"] == "included"
