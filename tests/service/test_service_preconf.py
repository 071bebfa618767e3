"""The preconfirmation bidder API of a running ``mevauction serve`` (real signatures over HTTP)."""

import json
import time

import pytest
from service_harness import ServerProcess

from mevauction.client import Client, RpcError, Signer
from mevauction.client.sdk import signed_transfer
from mevauction.eth import transactions
from mevauction.eth.keccak import keccak as keccak256
from mevauction.preconf.evidence import REJECT_FORMAT, Reject
from mevauction.preconf.keys import Signer as PreconfSigner
from mevauction.preconf.messages import Bid, Commitment, SignedBid
from mevauction.preconf.nike import GENERATOR, keypair, multiply
from mevauction.preconf.params import SignedParameters

pytestmark = pytest.mark.slow  # starts a service process

CHAIN_ID = 17864
CONTRACT = "0x" + "ab" * 20
PROVIDER_KEY = keccak256(b"provider")
PROVIDER = PreconfSigner(PROVIDER_KEY)
NIKE_SECRET = 0x1234567890ABCDEF
RESERVE_PER_GAS = 10
FUNDED = PreconfSigner.from_label("funded bidder")
OTHER = PreconfSigner.from_label("another funded bidder")
POOR = PreconfSigner.from_label("poor bidder")
DEPOSIT = 10**15


def settlement(c, block: int) -> dict | None:
    """A block's stored preconf settlement, or None while it is not settled yet."""
    try:
        return c.call("preconf_getSettlement", [block])
    except RpcError:
        return None


def preconf_env() -> dict[str, str]:
    return {
        "MEVAUCTION_PRECONF_KEY": PROVIDER_KEY.hex(),
        "MEVAUCTION_PRECONF_NIKE_KEY": hex(NIKE_SECRET),
        "MEVAUCTION_PRECONF_CONTRACT": CONTRACT,
        "MEVAUCTION_PRECONF_RESERVE_PER_GAS": str(RESERVE_PER_GAS),
        "MEVAUCTION_PRECONF_REJECT_WITHIN_MS": "400",
        "MEVAUCTION_PRECONF_FINAL_MS": "200",
        # mev-commit's flow (hash-only bids for transactions never sent here); the default
        # `held` is tested in test_service_preconf_withholding.py
        "MEVAUCTION_PRECONF_HASH_ONLY": "any",
        "MEVAUCTION_PRECONF_DEPOSITS": json.dumps({FUNDED.address.lower(): str(DEPOSIT), POOR.address: "5",
                                                   OTHER.address: str(DEPOSIT)}),
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = tmp_path_factory.mktemp("preconf") / "svc.db"
    proc = ServerProcess(f"sqlite:///{db}", slot_seconds=3.0, env=preconf_env()).start()
    yield proc
    proc.stop()


@pytest.fixture
def client(server):
    with Client(server.url) as c:
        yield c


_nonce = [0]


def signed_bid(client: Client, bidder: PreconfSigner, amount: int, txs: int = 1) -> tuple[dict, int]:
    """A fresh signed bid for the slot after next (distinct transaction hashes each call);
    also returns the bidder's NIKE secret."""
    _nonce[0] += 1
    secret, public = keypair()
    now = int(time.time() * 1000)
    names = ",".join(f"{_nonce[0]:032x}{i:032x}" for i in range(txs))
    bid = Bid(txn_hash=names, bid_amt=amount, block_number=client.slot()["slot"] + 2, decay_start=now,
              decay_end=now + 60_000, slash_amt=0, bidder_pk_x=public[0], bidder_pk_y=public[1])
    return SignedBid.sign(bid, bidder, CHAIN_ID, CONTRACT).to_json(), secret


def test_published_parameters_are_signed_by_the_configured_provider(client):
    params = SignedParameters.from_json(client.call("preconf_getParams", []))
    assert params.verify() == PROVIDER.address
    assert params.params.chain_id == CHAIN_ID and params.params.contract.lower() == CONTRACT


def test_funded_bid_gets_a_signed_commitment_with_the_shared_key_and_escrow(client):
    bid, secret = signed_bid(client, FUNDED, amount=21_000 * RESERVE_PER_GAS * 3)
    before = client.call("preconf_getDeposit", [FUNDED.address])
    record = client.send_preconf_bid(bid)
    assert record["status"] == "committed" and record["bidder"] == FUNDED.address
    [message] = record["messages"]
    commitment = Commitment.from_json(message)
    assert commitment.committer() == PROVIDER.address
    # The bidder can open the shared key from its own NIKE secret and the provider's public key.
    assert commitment.shared_key == multiply(multiply(GENERATOR, NIKE_SECRET), secret)
    after = client.call("preconf_getDeposit", [FUNDED.address])
    assert int(after["escrowed"]) - int(before["escrowed"]) == int(bid["bidAmt"])
    assert int(before["available"]) - int(after["available"]) == int(bid["bidAmt"])


def test_below_reserve_bid_is_streamed_its_reject_at_the_deadline(client):
    bid, _ = signed_bid(client, FUNDED, amount=21_000 * RESERVE_PER_GAS - 1)
    events = list(client.stream_preconf_bid(bid))
    first, *later = events
    assert first["status"] == "pending" and first["messages"] == []
    assert len(later) == 1 and later[0]["kind"] == "reject" and later[0]["reason"] == "not-selected"
    reject = Reject.from_json(later[0])
    assert reject.signer() == PROVIDER.address and reject.bid_signature.hex() == bid["signature"]
    # Sent by its deadline (received + 400 ms), signed at most REJECT_LEAD_MS before it.
    assert 300 <= reject.timestamp - first["receivedMs"] <= 400
    assert client.preconf_bid(first["bidDigest"])["status"] == "rejected"


def test_uncovered_bid_gets_a_signed_insufficient_deposit_reject(client):
    bid, _ = signed_bid(client, POOR, amount=21_000 * RESERVE_PER_GAS)
    record = client.send_preconf_bid(bid)
    [message] = record["messages"]
    assert record["status"] == "rejected" and message["format"] == REJECT_FORMAT
    assert message["reason"] == "insufficient-deposit"
    reject = Reject.from_json(message)
    assert reject.signer() == PROVIDER.address and reject.bidder == POOR.address


def test_a_retry_gets_the_same_record_never_a_new_signature(client):
    """Issue 14: a retry of a committed bid used to get a signed 'replay' reject, which
    with the commitment convicted the honest service of equivocation."""
    bid, _ = signed_bid(client, FUNDED, amount=21_000 * RESERVE_PER_GAS * 2)
    first = client.send_preconf_bid(bid)
    assert first["status"] == "committed"
    assert client.send_preconf_bid(bid) == first
    assert client.preconf_bid(first["bidDigest"])["messages"] == first["messages"]


def test_forged_signature_is_refused_unsigned_and_does_not_block_the_genuine_bid(client):
    # Issue 11: a forged bid used to get a signed, stored "bad-signature" reject (anyone
    # could make the service sign and store without bound); it is now a JSON-RPC error.
    bid, _ = signed_bid(client, FUNDED, amount=21_000 * RESERVE_PER_GAS * 2)
    forged = {**bid, "signature": bid["signature"][:64] + "00" * 32 + "1b"}  # s = 0 never verifies
    with pytest.raises(RpcError) as err:
        client.send_preconf_bid(forged)
    assert err.value.code == -32602 and err.value.message.startswith("params[0].signature: does not verify")
    with pytest.raises(RpcError, match="no bid with this digest"):
        client.preconf_bid(bid["digest"])
    assert client.send_preconf_bid(bid)["status"] == "committed"


def test_bid_from_an_address_without_deposit_is_refused_unsigned(client):
    stranger = PreconfSigner.from_label("no deposit anywhere")
    bid, _ = signed_bid(client, stranger, amount=21_000 * RESERVE_PER_GAS)
    with pytest.raises(RpcError) as err:
        client.send_preconf_bid(bid)
    assert err.value.code == -32602 and "has no deposit with this provider" in err.value.message
    with pytest.raises(RpcError, match="no bid with this digest"):
        client.preconf_bid(bid["digest"])


@pytest.mark.parametrize("change, field", [
    ({"bidAmt": None}, "params[0].bidAmt"),
    ({"bidAmt": "-5"}, "params[0].bidAmt"),
    ({"blockNumber": "0x10"}, "params[0].blockNumber"),
    ({"signature": "0x1234"}, "params[0].signature"),
    ({"signature": None}, "params[0].signature"),
    ({"digest": "00" * 32}, "params[0].digest"),
    ({"bidOptions": "0xzz"}, "params[0].bidOptions"),
    ({"txnHash": 7}, "params[0].txnHash"),
    # Issue 14: "²" used to crash the request (HTTP 500); every number is bounded, ASCII.
    ({"bidAmt": "²"}, "params[0].bidAmt"),
    ({"bidAmt": "٣"}, "params[0].bidAmt"),
    ({"slashAmt": "1" * 100}, "params[0].slashAmt"),
    ({"decayEndTimeStamp": "1e3"}, "params[0].decayEndTimeStamp"),
    # mev-commit's input rules: what its nodes refuse, refused here before anything is signed.
    ({"bidAmt": "0"}, "params[0].bidAmt"),
    ({"bidAmt": "007"}, "params[0].bidAmt"),
    ({"txnHash": ""}, "params[0].txnHash"),
    ({"txnHash": "0x" + "ab" * 32}, "params[0].txnHash[0]"),
    ({"txnHash": "AB" * 32}, "params[0].txnHash[0]"),
    ({"txnHash": "ab" * 31}, "params[0].txnHash[0]"),
    ({"revertingTxHashes": "xyz"}, "params[0].revertingTxHashes[0]"),
    ({"bidderPKx": "0", "bidderPKy": "0"}, "params[0].bidderPKx"),
    ({"bidderPKx": "1", "bidderPKy": "3"}, "params[0].bidderPKx"),
    ({"blockNumber": 100_000_000}, "params[0].blockNumber"),
    ({"decayStartTimeStamp": 0}, "params[0].decayStartTimeStamp"),
    ({"bidOptions": "0x1234"}, "params[0].bidOptions"),
    ({"rawTransactions": ["0x02"]}, "params[0].rawTransactions[0]"),
    ({"rawTransactions": "0x"}, "params[0].rawTransactions"),
])
def test_malformed_bid_is_a_json_rpc_error_naming_the_field(client, change, field):
    bid, _ = signed_bid(client, FUNDED, amount=10**6)
    if "digest" not in change:
        del bid["digest"]  # optional; else it (not the field) would be what no longer matches
    bid = {k: v for k, v in {**bid, **change}.items() if v is not None}
    with pytest.raises(RpcError) as err:
        client.send_preconf_bid(bid)
    assert err.value.code == -32602 and err.value.message.startswith(field + ":"), err.value.message


def test_bids_commitments_and_escrow_survive_kill9(server, client):
    bid, _ = signed_bid(client, FUNDED, amount=21_000 * RESERVE_PER_GAS * 4)
    with pytest.raises(RpcError, match="does not verify"):  # a forged copy first
        client.send_preconf_bid({**bid, "signature": bid["signature"][:64] + "00" * 32 + "1b"})
    record = client.send_preconf_bid(bid)
    assert [m["kind"] for m in record["messages"]] == ["commitment"]
    deposit = client.call("preconf_getDeposit", [FUNDED.address])
    server.kill9()
    server.start()
    with Client(server.url) as again:
        assert again.preconf_bid(record["bidDigest"]) == record
        assert again.call("preconf_getDeposit", [FUNDED.address]) == deposit
        assert again.send_preconf_bid(bid) == record  # a retry after the restart: the same record


def test_a_copy_signed_by_someone_else_first_blocks_nothing(client):
    """Issue 14: signing a bidder's exact fields first made the genuine bid a 'replay'."""
    bid, _ = signed_bid(client, FUNDED, amount=21_000 * RESERVE_PER_GAS * 2)
    fields_only = Bid.from_json(bid)
    copy = SignedBid.sign(fields_only, OTHER, CHAIN_ID, CONTRACT).to_json()  # funded: it is OTHER's own bid
    stranger = PreconfSigner.from_label("unfunded copier")
    with pytest.raises(RpcError, match="no deposit"):
        client.send_preconf_bid(SignedBid.sign(fields_only, stranger, CHAIN_ID, CONTRACT).to_json())
    assert client.send_preconf_bid(copy)["bidder"] == OTHER.address
    mine = client.send_preconf_bid(bid)
    assert mine["status"] == "committed" and mine["bidder"] == FUNDED.address
    assert client.call("preconf_getBid", [bid["digest"], 0, FUNDED.address]) == mine


def test_a_relay_under_another_request_signature_is_refused_and_blocks_nothing(server):
    bid, _ = signed_bid(Client(server.url), FUNDED, amount=21_000 * RESERVE_PER_GAS * 2)
    with Client(server.url, signer=Signer.random()) as relayer:
        with pytest.raises(RpcError) as err:
            relayer.send_preconf_bid(bid)
    assert err.value.code == -32602 and "but the request is signed by" in err.value.message
    with Client(server.url) as client:
        with pytest.raises(RpcError, match="no bid with this digest"):
            client.preconf_bid(bid["digest"])
        assert client.send_preconf_bid(bid)["status"] == "committed"


def test_bid_with_raw_transactions_is_checked_and_kept(client):
    key = keccak256(b"raw tx sender")
    raw = signed_transfer(key, 0, "0x" + "11" * 20, tip=1)
    tx_hash = transactions.decode(bytes.fromhex(raw[2:])).hash.removeprefix("0x")
    bid, _ = signed_bid(client, FUNDED, amount=21_000 * RESERVE_PER_GAS * 2)
    b = Bid.from_json({**bid, "txnHash": tx_hash})
    doc = {**SignedBid.sign(b, FUNDED, CHAIN_ID, CONTRACT).to_json(), "rawTransactions": [raw]}
    with pytest.raises(RpcError, match=r"params\[0\]\.rawTransactions\[0\]: hashes to"):
        client.send_preconf_bid({**doc, "rawTransactions": [signed_transfer(key, 1, "0x" + "11" * 20, tip=1)]})
    record = client.send_preconf_bid(doc)
    assert record["status"] == "committed"
    assert record["messages"][0]["bid"]["rawTransactions"] == [raw]


@pytest.fixture(scope="module")
def bidder_node(server, tmp_path_factory):
    """mev-commit's bidder API, as a process, in front of the service (FUNDED's keys)."""
    import subprocess
    import sys

    import httpx
    from service_harness import ROOT, free_port
    keys = tmp_path_factory.mktemp("node")
    (keys / "bidder.key").write_text(keccak256(b"funded bidder").hex() + "\n")
    (keys / "nike.key").write_text("0x2a\n")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mevauction", "preconf", "bidder-node", "--service", server.url,
                             "--key-file", str(keys / "bidder.key"), "--nike-key-file", str(keys / "nike.key"),
                             "--port", str(port)], env={**server.env, "PYTHONPATH": str(ROOT / "src")},
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            httpx.get(url + "/docs", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(10)


def test_mev_commit_bidder_api_streams_verified_commitments(client, bidder_node):
    """A bidder's existing mev-commit tooling: POST /v1/bidder/bid, commitments streamed back."""
    import httpx
    now = int(time.time() * 1000)
    block = client.slot()["slot"] + 2
    request = {"txHashes": ["0x" + "5a" * 32], "amount": str(21_000 * RESERVE_PER_GAS * 3), "blockNumber": block,
               "decayStartTimestamp": now, "decayEndTimestamp": now + 60_000, "revertingTxHashes": [],
               "bidOptions": {"options": [{"positionConstraint": {"anchor": "ANCHOR_TOP", "basis": "BASIS_ABSOLUTE",
                                                                  "value": 3}}]}}
    with httpx.stream("POST", bidder_node + "/v1/bidder/bid", json=request, timeout=30) as response:
        assert response.status_code == 200
        lines = [json.loads(line) for line in response.iter_lines() if line]
    [only] = lines
    c = only["result"]
    assert c["txHashes"] == ["5a" * 32] and c["bidAmount"] == request["amount"] and c["blockNumber"] == str(block)
    assert c["providerAddress"] == PROVIDER.address.lower()[2:] and c["slashAmount"] == request["amount"]
    assert now <= int(c["dispatchTimestamp"]) <= int(time.time() * 1000)  # when it was signed
    record = client.call("preconf_getBid", [c["receivedBidDigest"], 0, FUNDED.address])
    assert record["status"] == "committed" and record["messages"][0]["commitmentDigest"] == c["commitmentDigest"]
    assert Commitment.from_json(record["messages"][0]).committer() == PROVIDER.address
    # The proto's validation rules: HTTP 400 with grpc-gateway's error shape, code 3.
    bad = httpx.post(bidder_node + "/v1/bidder/bid", json={**request, "amount": "²"}, timeout=10)
    assert bad.status_code == 400 and bad.json()["code"] == 3 and "amount" in bad.json()["message"]
    empty = httpx.post(bidder_node + "/v1/bidder/bid", json={**request, "txHashes": []}, timeout=10)
    assert empty.status_code == 400 and "empty bid" in empty.json()["message"]
