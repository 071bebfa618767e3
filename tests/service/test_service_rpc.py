"""JSON-RPC intake, settlement and the read APIs of a running ``mevauction serve``."""

import socket
import time

import httpx
import pytest
from eth_hash.auto import keccak
from service_harness import ServerProcess

from mevauction.client import Client, RpcError, Signer, signed_transfer

pytestmark = pytest.mark.slow  # every test starts a service process

PAPER_O1 = {"id": "o1", "reads": ["k1"], "writes": ["k1"], "bid": {"default": 40, "after": {"o2": 100}}}
PAPER_O2 = {"id": "o2", "reads": ["k1"], "writes": ["k1"], "bid": {"default": 50, "after": {"o1": 80}}}


BUILDER = Signer.random()  # registered with the service, as only registered builders may bid


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = tmp_path_factory.mktemp("rpc") / "svc.db"
    registry = ["--builder", f"{BUILDER.address}={10**18}"]
    proc = ServerProcess(f"sqlite:///{db}", slot_seconds=1.0, extra=registry).start()
    yield proc
    proc.stop()


@pytest.fixture
def searcher(server):
    with Client(server.url, Signer.random()) as c:
        yield c


_used: list[int] = [0]


def ahead(client: Client, slots: int = 2) -> int:
    """A future slot no earlier test has used, so each test settles its own slot."""
    slot = max(client.slot()["slot"] + slots, _used[0] + 1)
    _used[0] = slot
    return slot


def tx(signer: Signer, nonce: int, tip: int = 10**9) -> str:
    return signed_transfer(signer.private_key, nonce, "0x" + "11" * 20, tip=tip)


def test_bundle_hash_is_flashbots_hash_and_replays_are_idempotent(searcher):
    raw = [tx(searcher.signer, 0), tx(searcher.signer, 1)]
    expected = "0x" + keccak(b"".join(keccak(bytes.fromhex(t[2:])) for t in raw)).hex()
    slot = ahead(searcher)
    assert searcher.send_bundle(raw, slot) == expected
    assert searcher.send_bundle(raw, slot) == expected
    stored = searcher.order_status(bundle_hash=expected)
    assert stored["status"] == "pending" and stored["slot"] == hex(slot) and stored["signer"] == searcher.signer.address


def test_replacement_and_cancellation_by_uuid(server, searcher):
    slot = ahead(searcher)
    first = searcher.send_bundle([tx(searcher.signer, 0)], slot, replacement_uuid="u-1")
    second = searcher.send_bundle([tx(searcher.signer, 0, tip=2 * 10**9)], slot, replacement_uuid="u-1")
    assert searcher.order_status(bundle_hash=first)["status"] == "cancelled"
    with Client(server.url, Signer.random()) as stranger:
        assert stranger.cancel_bundle("u-1") == []  # a uuid belongs to its signer
    assert searcher.order_status(bundle_hash=second)["status"] == "pending"
    assert searcher.cancel_bundle("u-1") == [second]
    assert searcher.order_status(bundle_hash=second)["status"] == "cancelled"
    with pytest.raises(RpcError, match="cannot be revived"):
        searcher.send_bundle([tx(searcher.signer, 0, tip=2 * 10**9)], slot)


def test_paper_example_settles_with_refunds(server, searcher):
    slot = ahead(searcher)
    searcher.send_order(PAPER_O1, slot)
    searcher.send_order(PAPER_O2, slot)
    with Client(server.url, BUILDER) as builder:
        ack = builder.send_builder_bid(slot, bid=149, block=["o2", "o1"])
        live = httpx.get(server.url + "/v1/live").json()
        # Sealed until the slot settles (clock fields are left out: a timestamp may contain "149").
        assert "149" not in str({k: v for k, v in live.items() if k not in ("now_ms", "deadline_ms")})
    report = searcher.wait_report(slot, timeout=20)
    assert report["format"] == "mevauction.report/1"
    assert report["block"] == ["o2", "o1"] and report["winner"] == "default"
    assert report["searchers"] == {"o1": {"bid": "100", "refund": "70"}, "o2": {"bid": "50", "refund": "50"}}
    assert report["proposer"] == "30"  # amounts leave /v1 as decimal strings
    o1 = searcher.order("o1", slot=slot)
    assert (o1["status"], o1["payment"], o1["refund"]) == ("included", "100", "70")
    delivered = searcher.payload_delivered(slot=slot)
    assert len(delivered) == 1 and delivered[0]["value"] == "30" and delivered[0]["block_number"] == str(slot)
    received = searcher.builder_blocks_received(slot=slot)
    # The builder's 149 lost to β0 = 150: it is not published; its commitment is.
    assert sorted(r.get("value", "-") for r in received) == ["-", "150"]
    assert sorted(str(r["bid_commitment"]) for r in received) == sorted([ack["commitment"], "None"])
    assert {r["block_hash"] for r in received} == {delivered[0]["block_hash"]}  # same block [o2, o1]
    assert report["builders"] == [{"id": BUILDER.address, "valid": True}]


@pytest.mark.parametrize("method,params,field", [
    ("eth_sendBundle", [{"txs": []}], "txs"),
    ("eth_sendBundle", [{"txs": ["0xzz"], "blockNumber": "0x10"}], "txs[0]"),
    ("eth_sendBundle", [{"txs": ["0x02c0"], "blockNumber": "0x10"}], "txs[0]"),
    ("eth_sendBundle", [{"txs": ["0x00"], "blockNumber": 5.5}], "txs[0]"),
    ("eth_sendBundle", [{"txs": [], "bogus": 1}], "bogus"),
    ("mev_sendOrder", [{"order": {"id": "x", "reads": ["k"]}}], "params[0].order.bid"),
    ("mev_sendOrder", [{"order": {"id": "x,y", "bid": 1}}], "order.id"),
    ("mev_sendBuilderBid", [{"blockNumber": "0x1", "algorithm": "nope"}], "algorithm"),
    ("mev_sendBuilderBid", [{"blockNumber": "0x1", "algorithm": "default", "bid": -1}], "bid"),
    ("eth_cancelBundle", [{}], "replacementUuid"),
    ("eth_cancelBundle", [{"replacementUuid": "u"}], "timestamp"),
    ("eth_nope", [], "method"),
])
def test_bad_params_are_json_rpc_errors_naming_the_field(searcher, method, params, field):
    if method in ("mev_sendOrder", "mev_sendBuilderBid", "eth_cancelBundle") and field != "timestamp":
        params = [{**params[0], "timestamp": time.time()}]  # signed now, so the field tested is the one refused
    with pytest.raises(RpcError) as info:
        searcher.call(method, params)
    assert info.value.message.startswith(field + ":"), info.value.message
    assert info.value.code in (-32602, -32601)


def test_slot_window(searcher):
    current = searcher.slot()["slot"]
    while current < 1:  # a fresh service is in slot 0, which has no closed slot before it
        time.sleep(0.1)
        current = searcher.slot()["slot"]
    with pytest.raises(RpcError, match="blockNumber: slot .* is closed"):
        searcher.send_bundle([tx(searcher.signer, 0)], current - 1)
    with pytest.raises(RpcError, match="blockNumber: .* slots ahead"):
        searcher.send_bundle([tx(searcher.signer, 0)], current + 1000)


def test_unsigned_and_missigned_requests_are_refused(server):
    body = b'{"jsonrpc":"2.0","id":1,"method":"eth_sendBundle","params":[{"txs":[]}]}'
    doc = httpx.post(server.url + "/", content=body).json()
    assert doc["error"]["code"] == -32001 and doc["error"]["message"].startswith("X-Flashbots-Signature")
    headers = Signer.random().headers(body + b" ")
    doc = httpx.post(server.url + "/", content=body, headers=headers).json()
    assert doc["error"]["code"] == -32001 and "does not match" in doc["error"]["message"]


def test_read_endpoints(server, searcher):
    assert httpx.get(server.url + "/healthz").json()["status"] == "ok"
    metrics = httpx.get(server.url + "/metrics").text
    assert "# TYPE mevauction_orders_acknowledged_total counter" in metrics
    assert "mevauction_rpc_seconds_bucket" in metrics
    r = httpx.get(server.url + "/relay/v1/data/bidtraces/builder_blocks_received")
    assert r.status_code == 400 and r.json()["message"].startswith("slot:")
    r = httpx.get(server.url + "/relay/v1/data/bidtraces/proposer_payload_delivered?limit=abc")
    assert r.status_code == 400 and r.json()["message"].startswith("limit:")
    r = httpx.get(server.url + "/relay/v1/data/bidtraces/proposer_payload_delivered?order_by=-value&cursor=99999")
    values = [int(t["value"]) for t in r.json()]
    assert values == sorted(values, reverse=True)
    r = httpx.get(server.url + "/v1/slots/999999999")
    assert r.status_code == 404 and r.json()["message"].startswith("slot:")
    assert httpx.get(server.url + "/v1/orders/0xnothing").status_code == 404
    assert "text/html" in httpx.get(server.url + "/", headers={"Accept": "text/html"}).headers["content-type"]


def test_limits_rate_payload_and_slow_clients(tmp_path):
    env = {"MEVAUCTION_RATE_PER_SIGNER": "3", "MEVAUCTION_BURST_PER_SIGNER": "3",
           "MEVAUCTION_MAX_BODY_BYTES": "4096", "MEVAUCTION_BODY_TIMEOUT": "1"}
    proc = ServerProcess(f"sqlite:///{tmp_path / 'l.db'}", slot_seconds=1.0, env=env).start()
    try:
        # A client that announces a body and never sends it holds only its own connection.
        slow = socket.create_connection(("127.0.0.1", proc.port))
        slow.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
        with Client(proc.url, Signer.random()) as c:
            slot = ahead(c)
            codes = []
            for n in range(5):
                try:
                    c.send_bundle([tx(c.signer, n)], slot)
                    codes.append(0)
                except RpcError as exc:
                    codes.append(exc.code)
            assert codes[:3] == [0, 0, 0] and -32005 in codes[3:]
            big = b'{"jsonrpc":"2.0","id":1,"method":"eth_sendBundle","params":[{"txs":["0x' + b"00" * 4096 + b'"]}]}'
            r = httpx.post(proc.url + "/", content=big, headers=c.signer.headers(big))
            assert r.status_code == 413 and r.json()["error"]["message"].startswith("body: exceeds 4096 bytes")
            report = c.wait_report(slot, timeout=20)
            assert len(report["searchers"]) == 3
        slow.settimeout(5)
        answer = slow.recv(4096)
        assert b"408" in answer.split(b"\r\n")[0]
        slow.close()
    finally:
        proc.stop()


def test_amm_slot_takes_world_orders_and_settles(tmp_path):
    import json

    from mevauction.cli.demo_load import amm_orders

    world, orders = amm_orders(30, seed=3)
    world_file = tmp_path / "world.json"
    world_file.write_text(json.dumps(world))
    proc = ServerProcess(f"sqlite:///{tmp_path / 'amm.db'}", slot_seconds=1.0, world=str(world_file)).start()
    try:
        with Client(proc.url, Signer.random()) as c:
            slot = c.slot()["slot"] + 2
            referring = [o for o in orders if "victim" in o]
            assert referring  # the generated slot has backruns/sandwiches
            # One whose victim has not arrived yet is refused, naming the field.
            with pytest.raises(RpcError, match=r"params\[0\]\.order\.victim"):
                c.send_order(referring[0], slot)
            for order in sorted(orders, key=lambda o: "victim" in o):
                assert c.send_order(order, slot) == order["id"]
            with pytest.raises(RpcError, match=r"params\[0\]\.order"):
                c.send_order({"id": "bad", "kind": "swap", "pool": "no-such-pool"}, slot)
            report = c.wait_report(slot, timeout=30)
            # Every order took part; the public report keeps the included ones' settlements,
            # the signer reads each of its orders' outcome.
            assert set(report["searchers"]) == set(report["block"]) <= {o["id"] for o in orders}
            outcomes = {o["id"]: c.order_status(order_id=o["id"], block_number=slot)["status"] for o in orders}
            assert {i for i, status in outcomes.items() if status == "included"} == set(report["block"])
            assert set(outcomes.values()) <= {"included", "excluded"}
    finally:
        proc.stop()


@pytest.mark.parametrize("number, bid", [
    ("0x" + "1" * 10_000, "1"),  # once an HTTP 500 (an unbounded quantity)
    ("0x_1", "1"), ("0x1 ", "1"), ("0x\u0663", "1"),  # int(x, 16) accepts all three
    (None, "1" * 4_000),  # past Python's int-to-str limit
])
def test_unbounded_or_non_canonical_numbers_get_a_json_rpc_error_naming_the_field(server, number, bid):
    """An attacker's numbers: a JSON-RPC error naming the field, never a 5xx, and the service lives on."""
    with Client(server.url, Signer.random()) as attacker:
        if number is not None:
            params = [{"txs": [tx(attacker.signer, 0)], "blockNumber": number}]
            field, method = "blockNumber", "eth_sendBundle"
        else:
            params = [{"block": [], "bid": bid, "blockNumber": hex(attacker.slot()["slot"] + 2),
                       "timestamp": time.time()}]
            field, method = "bid", "mev_sendBuilderBid"
        body, headers = attacker._request(method, params)
        response = httpx.post(server.url, content=body, headers=headers, timeout=10)
        assert response.status_code < 500
        error = response.json()["error"]
        assert field in error["message"], error
        assert attacker.slot()["slot"] >= 0  # still serving
