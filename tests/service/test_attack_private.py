"""Attacks on private order flow, order identity and replay, against a running ``serve``.

Each test plays the attacker with nothing but HTTP on 127.0.0.1 (an anonymous client, or a
second searcher with its own key) and asserts the defended outcome:

- nobody but its signer learns a pending order's id, signer, transactions or bid from any
  public endpoint, the page, or the signed read methods;
- after settlement only included orders are published (payment, refund, tx hashes, block);
  an excluded order's contents and bid stay with its signer;
- squatting a bundle hash in a later slot, or an order id first, takes over no look-up;
- an order cannot name a transaction it does not carry;
- a captured cancel or builder bid replayed later changes nothing.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest
from service_harness import ServerProcess

from mevauction.client import Client, RpcError, Signer, signed_transfer
from mevauction.eth.keccak import keccak

pytestmark = pytest.mark.slow  # every test talks to a service process

SLOT_SECONDS = 3.0
PUBLIC_PATHS = ("/", "/static/app.js", "/static/index.html", "/static/style.css", "/v1/live", "/v1/slots",
                "/metrics", "/healthz")


HTTP = httpx.Client(timeout=10.0)  # one keep-alive connection: polling must fit in an open slot


BUILDER = Signer.random()  # the one registered builder of the module's service

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc = ServerProcess(f"sqlite:///{tmp_path_factory.mktemp('attack') / 'svc.db'}", slot_seconds=SLOT_SECONDS,
                         extra=["--builder", f"{BUILDER.address}={10**24}"]).start()
    yield proc
    proc.stop()
    HTTP.close()


_ids = iter(range(1, 1 << 30))


def post(url: str, method: str, params: list, signer: Signer | None) -> tuple[bytes, dict[str, str], dict]:
    """A JSON-RPC request as sent on the wire (body and headers, for replaying) and its answer."""
    body = json.dumps({"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": params}).encode()
    headers = signer.headers(body) if signer else {"Content-Type": "application/json"}
    return body, headers, HTTP.post(url + "/", content=body, headers=headers).json()


def replay(url: str, body: bytes, headers: dict[str, str]) -> dict:
    return HTTP.post(url + "/", content=body, headers=headers).json()


def ahead(client: Client, slots: int = 2) -> int:
    return client.slot()["slot"] + slots


def tx(signer: Signer, nonce: int, tip: int = 10**9) -> str:
    return signed_transfer(signer.private_key, nonce, "0x" + "44" * 20, tip=tip)


def tx_hash(raw: str) -> str:
    return "0x" + keccak(bytes.fromhex(raw[2:])).hex()


def public_texts(url: str, slot: int, ids: list[str]) -> dict[str, str]:
    """Everything an anonymous client can GET about the service and ``slot``."""
    paths = [*PUBLIC_PATHS, f"/v1/slots/{slot}", *(f"/v1/orders/{i}" for i in ids),
             *(f"/v1/orders/{i}?slot={slot}" for i in ids),
             f"/relay/v1/data/bidtraces/proposer_payload_delivered?slot={slot}",
             f"/relay/v1/data/bidtraces/builder_blocks_received?slot={slot}"]
    return {p: HTTP.get(url + p).text for p in paths}


def leaks(texts: dict[str, str], secrets: dict[str, str]) -> list[str]:
    return [f"{where} shows the {name}" for where, text in texts.items() for name, secret in secrets.items()
            if secret.lower() in text.lower()]


def strip_id(answer: dict) -> dict:
    return {k: v for k, v in answer.items() if k != "id"}


def stranger_reads(url: str, stranger: Signer | None, bundle: str, order_id: str, slot: int) -> list[dict]:
    """The signed read methods as a stranger (another key, or none) sends them."""
    answers = []
    for method, params in (("flashbots_getBundleStatsV2", [{"bundleHash": bundle, "blockNumber": hex(slot)}]),
                           ("mev_getOrderStatus", [{"bundleHash": bundle}]),
                           ("mev_getOrderStatus", [{"orderId": order_id, "blockNumber": hex(slot)}])):
        answers.append(strip_id(post(url, method, params, stranger)[2]))
    return answers


def test_pending_orders_are_private_and_settled_ones_publish_only_the_included(server):
    victim, rival = Signer.random(), Signer.random()
    with Client(server.url, victim) as me, Client(server.url, rival) as other:
        slot = ahead(me, 1)
        raws = [tx(victim, 0), tx(victim, 1)]
        bundle = me.send_bundle(raws, slot, replacement_uuid="victim-uuid-5d1e")
        order_id = "victim-secret-order-7f3a"
        # Three orders competing for one (table-world) transaction: one is included, and it
        # pays the runner-up's bid (a second price), so the victim's order bids lowest.
        me.send_order({"id": order_id, "txs": ["contested"], "bid": 987654321}, slot)
        other.send_order({"id": "rival-order", "txs": ["contested"], "bid": 5555555555}, slot)
        other.send_order({"id": "runner-up", "txs": ["contested"], "bid": 4444444444}, slot)
        secrets = {"bundle hash": bundle, "order id": order_id, "signer": victim.address[2:],
                   "bid": "987654321", "uuid": "victim-uuid-5d1e",
                   **{f"raw tx {i}": r[2:] for i, r in enumerate(raws)},
                   **{f"tx hash {i}": tx_hash(r) for i, r in enumerate(raws)}}

        # While the slot is open (and the live slot): every public endpoint, polled a few times.
        while me.slot()["slot"] < slot:
            time.sleep(0.05)
        for _ in range(3):
            texts = public_texts(server.url, slot, [bundle, order_id])
            assert not leaks(texts, secrets), (slot, me.slot(), leaks(texts, secrets))
            live = json.loads(texts["/v1/live"])
            assert live["order_count"] >= 4 and "groups" not in live and "orders" not in live
            time.sleep(0.1)
        # A second searcher and an anonymous client get, from the signed read methods, exactly
        # the answer a nonexistent id gets: no oracle.
        for stranger in (rival, None):
            real = stranger_reads(server.url, stranger, bundle, order_id, slot)
            fake = stranger_reads(server.url, stranger, "0x" + "ab" * 32, "no-such-order", slot)
            assert real == fake, (real, fake)
            assert not leaks({"rpc": json.dumps(real)}, secrets)
            assert all("error" in a for a in real)

        # The signer reads its own orders, contents and status.
        mine = me.order_status(bundle_hash=bundle)
        assert (mine["status"], mine["slot"], mine["signer"]) == ("pending", hex(slot), victim.address)
        assert mine["params"]["txs"] == raws
        stats = me.bundle_stats(bundle, slot)
        assert stats["isSimulated"] is False and stats["status"] == "pending"
        assert me.order_status(order_id=order_id)["params"]["order"]["bid"] == 987654321

        # After settlement: the included bundle is published for verification; the excluded
        # order's id, contents and bid are not, except to its signer.
        report = me.wait_report(slot, timeout=30)
        assert bundle in report["block"] and "rival-order" in report["block"]
        public = me.order(bundle)
        assert public["status"] == "included" and public["slot"] == slot
        assert public["txs"] == [tx_hash(r) for r in raws] and isinstance(public["payment"], str)
        assert public["block_hash"].startswith("0x") and "signer" not in public and "params" not in public
        texts = public_texts(server.url, slot, [order_id])
        excluded = {"order id": order_id, "bid": "987654321", "signer": victim.address[2:]}
        assert not leaks(texts, excluded), leaks(texts, excluded)
        assert HTTP.get(f"{server.url}/v1/orders/{order_id}").status_code == 404
        gone = me.order_status(order_id=order_id, block_number=slot)
        assert gone["status"] == "excluded" and gone["params"]["order"]["bid"] == 987654321
        assert isinstance(gone["payment"], str)
        assert stranger_reads(server.url, rival, bundle, order_id, slot) == stranger_reads(
            server.url, rival, "0x" + "ab" * 32, "no-such-order", slot)


def test_squatting_a_bundle_hash_or_an_order_id_takes_over_no_lookup(server):
    victim, squatter = Signer.random(), Signer.random()
    with Client(server.url, victim) as me, Client(server.url, squatter) as them:
        slot = ahead(me)
        raws = [tx(victim, 7)]
        bundle = me.send_bundle(raws, slot)
        # The squatter re-sends the victim's transactions (the same bundle hash) one slot later.
        assert them.send_bundle(raws, slot + 1) == bundle
        # And takes an order id first in the victim's slot.
        them.send_order({"id": "shared-id", "reads": ["a"], "writes": ["a"], "bid": 3}, slot)
        assert me.send_order({"id": "shared-id", "reads": ["b"], "writes": ["b"], "bid": 4}, slot) == "shared-id"
        # Sent again, the victim's order is recognised as its own (no new order, no clash).
        assert me.send_order({"id": "shared-id", "reads": ["b"], "writes": ["b"], "bid": 4}, slot) == "shared-id"

        mine = me.order_status(bundle_hash=bundle)
        assert (mine["slot"], mine["signer"]) == (hex(slot), victim.address)
        theirs = them.order_status(bundle_hash=bundle)
        assert (theirs["slot"], theirs["signer"]) == (hex(slot + 1), squatter.address)
        assert me.order_status(order_id="shared-id")["params"]["order"]["reads"] == ["b"]
        assert them.order_status(order_id="shared-id")["params"]["order"]["reads"] == ["a"]

        me.wait_report(slot + 1, timeout=30)
        # Both of the shared-id orders took part, under distinct ids in the slot's scenario.
        assert me.order_status(order_id="shared-id", block_number=slot)["status"] == "included"
        assert them.order_status(order_id="shared-id", block_number=slot)["status"] == "included"
        # The public look-up of the bundle hash is the earliest included one: the victim's.
        assert me.order(bundle)["slot"] == slot
        assert me.order(bundle, slot=slot + 1)["slot"] == slot + 1


def test_an_order_cannot_claim_another_searchers_transaction(server):
    """A table-world order (it carries no signed transaction, its ``txs`` are labels) that
    names a victim bundle's transaction hash, bidding far more: the bundle is still in the
    block — the label names no real transaction — and nothing tells the thief whether the
    hash it named is pending anywhere."""
    victim, thief = Signer.random(), Signer.random()
    with Client(server.url, victim) as me, Client(server.url, thief) as them:
        slot = ahead(me)
        raw = tx(victim, 3)
        bundle = me.send_bundle([raw], slot)
        claim = {"id": "claim", "txs": [tx_hash(raw)], "revertingTxHashes": [tx_hash(raw)], "bid": 10**18}
        assert them.send_order(claim, slot) == "claim"
        unknown = {**claim, "id": "claim-2", "txs": ["0x" + "cd" * 32], "revertingTxHashes": []}
        assert them.send_order(unknown, slot) == "claim-2"  # the same answer for a hash pending nowhere
        report = me.wait_report(slot, timeout=30)
        assert bundle in report["block"] and "claim" in report["block"]
        assert me.order(bundle, slot=slot)["txs"] == [tx_hash(raw)]
        assert them.order("claim", slot=slot)["txs"] == [tx_hash(raw)]  # its label, as it wrote it


def test_a_replayed_cancel_does_not_cancel_a_new_bundle_under_the_same_uuid(server):
    victim, attacker = Signer.random(), Signer.random()
    with Client(server.url, victim) as me:
        slot = ahead(me, 3)
        first = me.send_bundle([tx(victim, 0)], slot, replacement_uuid="u-replay")
        body, headers, answer = post(server.url, "eth_cancelBundle",
                                     [{"replacementUuid": "u-replay", "timestamp": round(time.time(), 3)}], victim)
        assert answer["result"] == [first], answer
        time.sleep(0.05)
        second = me.send_bundle([tx(victim, 0, tip=2 * 10**9)], slot, replacement_uuid="u-replay")
        # The attacker captured the cancel and sends it again, byte for byte.
        again = replay(server.url, body, headers)
        assert "error" in again and again["error"]["message"].startswith("timestamp:"), again
        assert me.order_status(bundle_hash=second)["status"] == "pending"
        # A cancel signed earlier than the new bundle arrived does not reach it either.
        early = round(time.time(), 3) - 1
        _, _, late = post(server.url, "eth_cancelBundle", [{"replacementUuid": "u-replay", "timestamp": early}],
                          victim)
        assert late["result"] == [], late
        assert me.order_status(bundle_hash=second)["status"] == "pending"
        # An old version of the replaced bundle, replayed, does not re-replace the new one.
        with pytest.raises(RpcError, match="cannot be revived"):
            me.send_bundle([tx(victim, 0)], slot, replacement_uuid="u-replay")
        assert me.order_status(bundle_hash=second)["status"] == "pending"
        # The attacker's own key cannot cancel it either.
        _, _, theirs = post(server.url, "eth_cancelBundle",
                            [{"replacementUuid": "u-replay", "timestamp": round(time.time(), 3)}], attacker)
        assert theirs["result"] == []


def test_a_replayed_old_builder_bid_does_not_replace_a_newer_one(server):
    builder = BUILDER
    with Client(server.url, builder) as b:
        slot = ahead(b, 3)
        old = [{"blockNumber": hex(slot), "algorithm": "default", "bid": 11, "timestamp": round(time.time(), 3)}]
        body, headers, answer = post(server.url, "mev_sendBuilderBid", old, builder)
        assert "result" in answer, answer
        time.sleep(0.01)
        _, _, newer = post(server.url, "mev_sendBuilderBid",
                           [{**old[0], "bid": 22, "timestamp": round(time.time(), 3)}], builder)
        assert "result" in newer, newer
        again = replay(server.url, body, headers)
        assert "error" in again and again["error"]["message"].startswith("timestamp:"), again
        # A different request signed before the stored bid (delivered late) is refused too.
        _, _, late = post(server.url, "mev_sendBuilderBid", [{**old[0], "bid": 33}], builder)
        assert "error" in late and late["error"]["message"].startswith("timestamp:"), late


@pytest.mark.parametrize("method,params", [
    ("eth_cancelBundle", {"replacementUuid": "u"}),
    ("mev_sendBuilderBid", {"algorithm": "default", "bid": 1}),
    ("mev_sendOrder", {"order": {"id": "t", "bid": 1}}),
])
def test_state_changing_requests_need_a_fresh_timestamp(server, method, params):
    signer = Signer.random()
    _, _, missing = post(server.url, method, [params], signer)
    assert missing["error"]["message"].startswith("timestamp:"), missing
    for stale in (time.time() - 3600, time.time() + 3600):
        _, _, answer = post(server.url, method, [{**params, "timestamp": round(stale)}], signer)
        assert answer["error"]["message"].startswith("timestamp:"), answer



def test_an_evm_order_cannot_claim_another_searchers_transaction(tmp_path):
    """The evm world's order formats: a ``bundle`` object's order whose ``txs`` name a
    transaction it does not carry, and reverting hashes that are another's."""
    pytest.importorskip("pyrevm")
    from mevauction.intake.workloads.evm import generate

    generated = generate(orders=6, seed=5)
    (tmp_path / "world.json").write_text(json.dumps({"world": generated["world"]}))
    proc = ServerProcess(f"sqlite:///{tmp_path / 'evm.db'}", slot_seconds=SLOT_SECONDS,
                         world=str(tmp_path / "world.json")).start()
    try:
        victim_raws = generated["orders"][0]["raw_txs"]
        victim_hash = tx_hash(victim_raws[0])
        # The thief's own order: one that does not carry the victim's transaction (a
        # generated backrun does, legitimately).
        own_raws = next(o["raw_txs"] for o in generated["orders"] if victim_raws[0] not in o["raw_txs"])
        with Client(proc.url, Signer.random()) as me, Client(proc.url, Signer.random()) as them:
            slot = ahead(me, 3)
            me.send_bundle(victim_raws, slot)
            for order, field in (
                    ({"id": "claim", "bundle": {"txs": own_raws}, "txs": [victim_hash]}, "txs[0]"),
                    ({"id": "claim", "bundle": {"txs": own_raws, "revertingTxHashes": [victim_hash]}},
                     "bundle.revertingTxHashes[0]"),
                    ({"id": "claim", "raw_txs": own_raws, "droppingTxHashes": [victim_hash]}, "droppingTxHashes[0]")):
                with pytest.raises(RpcError) as info:
                    them.send_order(order, slot)
                assert info.value.message.startswith(f"params[0].order.{field}:"), info.value.message
            # Its own transactions, named as such, are fine.
            own = [tx_hash(r) for r in own_raws]
            assert them.send_order({"id": "mine", "bundle": {"txs": own_raws}, "txs": own}, slot) == "mine"
    finally:
        proc.stop()
