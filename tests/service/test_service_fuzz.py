"""≥ 10,000 generated malformed requests: never a 5xx, never a traceback, always an
error object whose message starts with the field it is about."""

import json
import re

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_harness import ServerProcess

from mevauction.client import Signer, signed_transfer

pytestmark = pytest.mark.slow  # starts a service process and fuzzes it

EXAMPLES = 2000  # per test; five tests → 10,000 requests
FIELD = re.compile(r"^[A-Za-z_][\w\-]*(\[\d+\])?(\.[\w\-]+(\[\d+\])?)*: \S")
SIGNER = Signer(b"\x01" * 32)
GOOD_TX = signed_transfer(SIGNER.private_key, 0, "0x" + "44" * 20, tip=7)
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                         suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)
hexish = st.one_of(
    st.text(alphabet="0123456789abcdefxXg", max_size=80),
    st.binary(max_size=60).map(lambda b: "0x" + b.hex()),
    st.sampled_from([GOOD_TX, GOOD_TX[:-2], GOOD_TX + "00", "0x", "0x0", GOOD_TX.replace("02", "01", 1)]),
)


@pytest.fixture(scope="module")
def http(tmp_path_factory):
    proc = ServerProcess(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'f.db'}", slot_seconds=2.0,
                         env={"MEVAUCTION_RATE_PER_SIGNER": "1000000", "MEVAUCTION_BURST_PER_SIGNER": "1000000",
                              "MEVAUCTION_MAX_BODY_BYTES": "65536"}).start()
    with httpx.Client(base_url=proc.url, timeout=10) as client:
        yield client
    proc.stop()


def test_control_characters_in_headers_are_refused_by_http_parser(http):
    """A header no HTTP/1.1 peer may send is refused before JSON-RPC, with a 4xx."""
    import socket
    host, port = http.base_url.host, http.base_url.port
    with socket.create_connection((host, port)) as raw:
        raw.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Flashbots-Signature: \x1f\r\nContent-Length: 2\r\n\r\n{}")
        assert raw.recv(100).split(b" ")[1].startswith(b"4")


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    doc = response.json()
    items = doc if isinstance(doc, list) else [doc]
    for item in items:
        if "result" in item:
            continue
        message = item["error"]["message"]
        assert isinstance(item["error"]["code"], int)
        assert "Traceback" not in message and "\n" not in message
        assert FIELD.match(message), message


def post(http: httpx.Client, body: bytes, signed: bool = True) -> None:
    headers = SIGNER.headers(body) if signed else {"Content-Type": "application/json"}
    check(http.post("/", content=body, headers=headers))


@FUZZ_SETTINGS
@given(body=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_garbage_bodies(http, body):
    post(http, body)


@FUZZ_SETTINGS
@given(
    request=st.dictionaries(st.sampled_from(["jsonrpc", "id", "method", "params", "extra"]), json_values, max_size=5),
    method=st.sampled_from(
        [
            "eth_sendBundle",
            "eth_cancelBundle",
            "mev_sendOrder",
            "mev_sendBuilderBid",
            "eth_blockNumber",
            "mev_slot",
            "eth_call",
            "",
        ]
    ),
)
def test_wrong_json_rpc_shapes(http, request, method):
    if "method" in request and len(request) % 2:
        request["method"] = method
    post(http, json.dumps(request).encode())
    post(http, json.dumps([request, request]).encode())


@FUZZ_SETTINGS
@given(txs=st.lists(hexish, max_size=3) | json_values, block=st.one_of(json_values, hexish),
       extra=st.dictionaries(st.sampled_from(["minTimestamp", "maxTimestamp", "revertingTxHashes",
                                              "droppingTxHashes", "replacementUuid", "refundPercent", "junk"]),
                             json_values | hexish, max_size=3))
def test_bundle_params(http, txs, block, extra):
    params = {"txs": txs, "blockNumber": block, **extra}
    post(http, json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_sendBundle", "params": [params]}).encode())


@FUZZ_SETTINGS
@given(method=st.sampled_from(["mev_sendOrder", "mev_sendBuilderBid", "eth_cancelBundle"]),
       params=st.dictionaries(st.sampled_from(["order", "blockNumber", "algorithm", "block", "bid", "replacementUuid"]),
                              json_values | hexish, max_size=4),
       order=st.dictionaries(st.sampled_from(["id", "reads", "writes", "bid", "gas", "txs"]), json_values, max_size=5))
def test_order_and_builder_params(http, method, params, order):
    if method == "mev_sendOrder" and "order" not in params:
        params["order"] = order
    post(http, json.dumps({"jsonrpc": "2.0", "id": "x", "method": method, "params": [params]}).encode())


@FUZZ_SETTINGS
@given(
    header=st.one_of(
        st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200),
        hexish.map(lambda h: SIGNER.address + ":" + h),
        st.binary(min_size=65, max_size=65).map(lambda b: SIGNER.address + ":0x" + b.hex()),
    ),
    oversize=st.integers(0, 30),
)
def test_bad_signatures_and_oversize_bodies(http, header, oversize):
    if oversize == 0:
        body = b'{"jsonrpc":"2.0","id":1,"method":"eth_sendBundle","params":[{"txs":["' + b"0" * 70000 + b'"]}]}'
        response = http.post("/", content=body, headers=SIGNER.headers(body))
        assert response.status_code == 413
        check(response)
        return
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_cancelBundle", "params": [{"replacementUuid": "u"}]})
    response = http.post("/", content=body.encode(), headers={"X-Flashbots-Signature": header.strip()})
    check(response)
    assert response.json()["error"]["code"] == -32001
