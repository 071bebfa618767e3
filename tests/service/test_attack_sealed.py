"""Attacks on ``serve --sealed`` (issue 11 § 3), against a real service process, on the
MPC committee and (``--backend 2pc``, issue 16 § 4) on the two-party garbled-circuit pair.

Three builders bid for a slot through the SDK, which seals each bid for the committee
on the builder's side. The highest bid wins and pays the second; the lowest (the losing
bid that sets nothing) and the winner's own bid must appear nowhere the service keeps
or shows: not in its database file, not in its log, not in any HTTP response — before
or after settlement. A plaintext ``bid`` is refused; a bid under another builder's
address is refused; an envelope changed on the way is refused by the committee (the
builder is left out, the auction goes on) rather than opened as another amount; a
local attacker who finds the committee's ports gets every control operation refused
and the committee keeps serving; no public endpoint names those ports or process ids.
"""

import json
import re
import time

import httpx
import pytest
from committee_procs import committee_servers
from service_harness import ServerProcess

from committee_wire import SEALED_ORDERS, outsider_request
from mevauction.client import Client, RpcError, Signer

pytestmark = pytest.mark.slow  # a service process with an MPC committee

pytest.importorskip("mevauction.privacy.builder_auction")

ORDERS = SEALED_ORDERS
WINNING = 7_340_512_887_019_244_731  # ≈ 7.3 ETH: wins, never revealed
SECOND = 5_118_276_533_904_178_223  # sets the price: revealed, as the price
LOSING = 3_902_716_450_118_367_529  # loses and sets nothing: never revealed
BLOCK = ["o2", "o1", "o3", "o4"]
BUILDERS = [Signer.random() for _ in range(9)]  # registered with the service, each with 10^6 ETH
REGISTRY = [arg for b in BUILDERS for arg in ("--builder", f"{b.address}={10**24}")]
SECRETS = {f"{name} {form}": text for name, amount in (("winning", WINNING), ("losing", LOSING))
           for form, text in (("decimal", str(amount)), ("hex", f"{amount:x}"))}
RAW = {f"{name} {order}-endian 16 bytes": amount.to_bytes(16, order)  # a 128-bit share's width
       for name, amount in (("winning", WINNING), ("losing", LOSING)) for order in ("big", "little")}


def sealed_service(tmp_path_factory, backend: str):
    where = tmp_path_factory.mktemp(f"sealed-attack-{backend}")
    proc = ServerProcess(f"sqlite:///{where / 'svc.db'}", slot_seconds=4.0,
                         extra=["--sealed", "--backend", backend, *REGISTRY], log=where / "service.log").start()
    proc.where = where
    return proc


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc = sealed_service(tmp_path_factory, "mpc")
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def pair_server(tmp_path_factory):
    proc = sealed_service(tmp_path_factory, "2pc")
    yield proc
    proc.stop()


@pytest.fixture(params=["mpc", "2pc"])
def any_server(request):
    """The same attack on both backends' services (one process each for the module)."""
    return request.getfixturevalue("server" if request.param == "mpc" else "pair_server")


def public_responses(server, slot: int) -> dict[str, str]:
    """Every public GET an outsider can make about the slot, and the open RPC methods."""
    paths = ["/", "/healthz", "/metrics", "/v1/live", "/v1/slots", f"/v1/slots/{slot}", "/v1/orders/o1",
             f"/relay/v1/data/bidtraces/builder_blocks_received?slot={slot}",
             "/relay/v1/data/bidtraces/builder_blocks_received",
             f"/relay/v1/data/bidtraces/proposer_payload_delivered?slot={slot}",
             "/relay/v1/data/bidtraces/proposer_payload_delivered"]
    out = {p: httpx.get(server.url + p, timeout=10).text for p in paths}
    with Client(server.url) as anyone:
        for method, params in (("mev_slot", []), ("mev_getCommittee", [hex(slot)])):
            try:
                out[method] = json.dumps(anyone.call(method, params))
            except RpcError as exc:
                out[method] = exc.message
    return out


def stored_bytes(server) -> dict[str, bytes]:
    """The service's database files (with the write-ahead log) and its log."""
    files = [p for p in server.where.iterdir() if p.is_file()]
    return {p.name: p.read_bytes() for p in files}


def assert_nothing_leaks(server, slot: int, sent: dict[str, bytes] | None = None) -> None:
    """``sent``: what the builders sent the service (their RPC request bodies)."""
    texts = {k: v.encode() for k, v in public_responses(server, slot).items()} | stored_bytes(server) | (sent or {})
    for where, data in texts.items():
        for what, secret in [*((w, t.encode()) for w, t in SECRETS.items()), *RAW.items()]:
            assert secret not in data, f"the {what} form of a sealed bid is in {where}"


def next_slot(client: Client) -> int:
    info = client.slot()
    # at least 1.5 s before the deadline of the slot we bid for
    return info["slot"] + (2 if info["deadline_ms"] / 1000 - time.time() < 1.5 else 1)


def send_orders(searcher: Client, slot: int) -> None:
    for order in ORDERS:
        searcher.send_order(order, slot)


def test_no_sealed_amount_in_database_log_or_any_response(any_server):
    server = any_server
    builders = {"winner": BUILDERS[0], "second": BUILDERS[1], "loser": BUILDERS[2]}
    amounts = {"winner": WINNING, "second": SECOND, "loser": LOSING}
    sent: dict[str, bytes] = {}
    with Client(server.url, Signer.random()) as searcher:
        slot = next_slot(searcher)
        send_orders(searcher, slot)
        for name, signer in builders.items():
            with Client(server.url, signer) as builder:
                params = builder.sealed_builder_params(builder.committee(slot), slot, amounts[name], None, BLOCK,
                                                       None)
                sent[f"{name}'s mev_sendBuilderBid"] = json.dumps(params).encode()
                ack = builder.call("mev_sendBuilderBid", params)
                assert ack["builder"] == signer.address
        assert_nothing_leaks(server, slot, sent)  # before the deadline
        report = searcher.wait_report(slot, timeout=120)
    assert "error" not in report, report
    assert report["winner"] == builders["winner"].address and int(report["price"]) == SECOND
    entries = {b["id"]: b for b in report["builders"]}
    assert int(entries[builders["winner"].address]["bid"]) == SECOND  # what it pays, not what it bid
    assert "bid" not in entries[builders["loser"].address] and "bid" not in entries[builders["second"].address]
    time.sleep(0.5)  # the log and the database have been written
    assert_nothing_leaks(server, slot)  # after settlement


def test_a_plaintext_bid_is_refused(server):
    with Client(server.url, BUILDERS[3]) as builder:
        slot = builder.slot()["slot"] + 1
        with pytest.raises(RpcError) as err:
            builder.send_builder_bid(slot, bid=LOSING, block=BLOCK)
    assert err.value.message.startswith("bid")


def test_a_bid_under_another_builders_address_is_refused(server):
    victim, attacker = BUILDERS[4], BUILDERS[5]
    with Client(server.url, victim) as v, Client(server.url, attacker) as a:
        slot = v.slot()["slot"] + 1
        stolen = v.sealed_builder_params(v.committee(slot), slot, LOSING, None, BLOCK, None)  # the victim's own seal
        with pytest.raises(RpcError) as err:
            a.call("mev_sendBuilderBid", stolen)  # replayed from the attacker's key
        assert "sealedBid.header.bidder" in err.value.message
        forged = a.sealed_builder_params(a.committee(slot), slot, LOSING, None, BLOCK, None)
        forged[0]["sealedBid"]["header"]["bidder"] = victim.address  # claims the victim's label
        with pytest.raises(RpcError) as err:
            a.call("mev_sendBuilderBid", forged)
        assert "sealedBid.header" in err.value.message


def test_an_altered_envelope_is_refused_by_the_committee_not_opened_as_another_amount(any_server):
    server = any_server
    tampered, honest = BUILDERS[6], BUILDERS[7]
    with Client(server.url, Signer.random()) as searcher:
        slot = next_slot(searcher)
        send_orders(searcher, slot)
        with Client(server.url, tampered) as t:
            params = t.sealed_builder_params(t.committee(slot), slot, WINNING, None, BLOCK, None)
            text = params[0]["sealedBid"]["ciphertexts"][1]
            params[0]["sealedBid"]["ciphertexts"][1] = text[:300] + ("0" if text[300] != "0" else "1") + text[301:]
            t.call("mev_sendBuilderBid", params)  # the service cannot tell: it cannot open envelopes
        with Client(server.url, honest) as h:
            h.send_sealed_builder_bid(slot, SECOND, block=BLOCK)
        report = searcher.wait_report(slot, timeout=120)
    assert "error" not in report, report
    entries = {b["id"]: b for b in report["builders"]}
    assert report["winner"] == honest.address  # the higher, altered bid did not win
    assert entries[tampered.address]["valid"] is False
    assert "refused by the committee" in entries[tampered.address]["reason"]


def test_committee_control_needs_the_service_key_and_nothing_public_names_the_committee(server):
    servers = committee_servers(server)
    assert len(servers) == 3
    with Client(server.url) as anyone:
        slot = anyone.slot()["slot"]
    public = "\n".join(public_responses(server, slot).values())
    assert '"pids"' not in public and '"intake"' not in public
    for pid, (_, port) in servers:
        for number in (port, pid):
            assert not re.search(rf"(?<![0-9]){number}(?![0-9])", public), f"{number} is public"
    for _, address in servers:
        for request in ({"op": "shutdown"}, {"op": "open", "auction": "evil", "mechanism": "first", "max_bids": 1},
                        {"op": "close", "auction": "evil"}):
            reply = outsider_request(address, request)
            assert reply.get("ok") is False, (request, reply)
    winner, second = BUILDERS[8], BUILDERS[0]
    with Client(server.url, Signer.random()) as searcher:
        slot = next_slot(searcher)
        send_orders(searcher, slot)
        for signer, amount in ((winner, WINNING), (second, SECOND)):
            with Client(server.url, signer) as b:
                b.send_sealed_builder_bid(slot, amount, block=BLOCK)
        report = searcher.wait_report(slot, timeout=120)
    assert report["winner"] == winner.address and int(report["price"]) == SECOND
    assert [pid for pid, _ in committee_servers(server)] == [pid for pid, _ in servers]  # the same, still serving
