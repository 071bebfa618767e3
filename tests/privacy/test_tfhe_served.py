"""A TFHE pair run by two operators (``sealed party serve --backend tfhe``): real key holder
and evaluator processes, each with its own pinned identity, shared by every test here
(one pair, many auctions). The outcome is the plaintext twin's and both parties sign it;
only the auctioneer's key controls them; no other key passes as K or E to the peer, the
auctioneer or a trader; a kill -9 of K after it acknowledged orders loses none; an
altered transcript fails ``sealed verify``."""

from __future__ import annotations

import json
import random
import secrets
import socket
import ssl
import threading
from pathlib import Path

import pytest

from mevauction.privacy import messages, tls
from mevauction.privacy.mechanisms import clear_double
from mevauction.privacy.tfhe import pair, trader, wire
from mevauction.privacy.tfhe.remote import LocalServedPair, ServedPair
from mevauction.privacy.twoparty.submit import PairAccess
from tfhe_helpers import cli, orders

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not (ROOT / ".venv-fhe" / "bin" / "python").is_file(),
                                                   reason="no .venv-fhe (scripts/setup-fhe.sh)")]
BITS, LEVELS = 2, 8
GRID = [100 * (g + 1) for g in range(LEVELS)]


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    with LocalServedPair(tmp_path_factory.mktemp("tfhe-pair")) as p:
        yield p


def _orders(seed: int, n: int) -> list[tuple[str, list[int]]]:
    return orders(random.Random(seed), n, LEVELS, BITS)


def _auction(client: ServedPair, orders, max_bids: int = 8) -> tuple[str, list[str]]:
    """Open an auction on the pair and have every trader submit; (auction id, labels)."""
    auction = "0x" + secrets.token_hex(16)
    client.open(auction, GRID, BITS, max_bids)
    labels = []
    for side, inc in orders:
        key = messages.new_key()
        sub = trader.submit_curve(client.access, auction, side, inc, BITS, key, signers=client.signers)
        assert sub.ok, sub.refused
        assert len(sub.receipts) == 2
        labels.append(messages.address(key))
    return auction, labels


def _check_twin(r, orders, labels) -> None:
    assert r.ok, r.reason
    assert sorted(r.bidders) == sorted(labels)  # every acknowledged order went in
    by_label = dict(zip(labels, orders, strict=True))
    want = clear_double(list(range(LEVELS)), [by_label[b][0] for b in r.bidders], [by_label[b][1] for b in r.bidders])
    assert (r.level, r.quantities) == (want.price, want.quantities)


def test_many_auctions_on_one_pair_each_the_plaintext_twin_signed_by_both(running):
    client = running.client()
    for seed in (1, 2):
        orders = _orders(seed, 6)
        auction, labels = _auction(client, orders)
        r = client.close(auction)
        _check_twin(r, orders, labels)
        assert r.level is not None and r.quantities  # the instances trade
        assert [st["signer"] for st in r.statements] == [e.signer for e in pair.parties(running.parties)]
        assert {json.dumps(st["outcome"]) for st in r.statements} == {json.dumps(r.statements[0]["outcome"])}
        assert r.statements[0]["outcome"]["price"] == str(GRID[r.level])
    # a closed auction is not closed twice, and takes no more orders
    again = client.close(auction)
    assert not again.ok and "is not open here" in again.reason
    late = trader.submit_curve(client.access, auction, "buy", [1] * LEVELS, BITS, messages.new_key())
    assert not late.ok and all("late: the auction is closed" in x for x in late.refused)


def test_cli_open_bid_close_verify_and_an_altered_transcript_fails(running, tmp_path):
    spec = tmp_path / "spec.json"
    pf, kf = str(running.parties_file), str(running.control_key_file)
    grid = ",".join(str(p) for p in GRID[:4])
    p = cli("sealed", "open", "--backend", "tfhe", "--mechanism", "double", "--parties-file", pf,
            "--control-key-file", kf, "--grid", grid, "--max-bids", "4", "--spec", str(spec))
    assert p.returncode == 0, p.stderr
    auction = json.loads(spec.read_text())["auction"]
    for i, (side, curve) in enumerate([("buy", '[["300", 2]]'), ("sell", '[["100", 1], ["200", 1]]')]):
        p = cli("sealed", "bid", "--backend", "tfhe", "--parties-file", pf, "--spec", str(spec), "--auction", auction,
                "--side", side, "--curve", curve, "--opening", str(tmp_path / f"o{i}.json"))
        assert p.returncode == 0, p.stderr + p.stdout
    out = tmp_path / "out.json"
    p = cli("sealed", "close", "--backend", "tfhe", "--parties-file", pf, "--control-key-file", kf, "--spec",
            str(spec), "--json", str(out))
    assert p.returncode == 0, p.stderr
    report = json.loads(out.read_text())
    assert report["price"] == 300 and len(report["quantities"]) == 2
    assert report["preprocess_s"] > 0 and report["keygen_s"] > 0 and report["evaluation_key_bytes"] > 0  # at open
    ok = cli("sealed", "verify", str(out), "--committee-keys", pf)
    assert ok.returncode == 0 and ok.stdout.startswith("transcript OK"), ok.stdout + ok.stderr
    tpath = Path(report["transcript"])
    t = json.loads(tpath.read_text())

    def fails(doc: dict, why: str) -> None:
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(doc))
        p = cli("sealed", "verify", str(bad), "--committee-keys", pf)
        assert p.returncode == 1 and why in p.stdout, p.stdout + p.stderr

    fails({**t, "outcome": {**t["outcome"], "price": "200"}}, "the transcript's outcome is not the one the parties")
    forged = [{**st, "outcome": {**st["outcome"], "price": "200"}} for st in t["statements"]]
    fails({**t, "statements": forged, "outcome": forged[0]["outcome"]}, "bad signature")
    # the same altered statements re-signed by keys that are not the published ones
    other = [messages.new_key(), messages.new_key()]
    resigned = []
    for st, key in zip(forged, other, strict=True):
        body = {k: v for k, v in st.items() if k != "signature"} | {"signer": messages.address(key)}
        resigned.append({**body, "signature": messages.sign(messages.statement_digest(body), key)})
    fails({**t, "statements": resigned, "outcome": resigned[0]["outcome"],
           "committee": {**t["committee"], "members": [{"index": i, "signer": messages.address(k), "encryption_key": ""}
                                                       for i, k in enumerate(other)]}},
          "not the pinned committee's")


def test_control_not_signed_by_the_auctioneer_is_refused(running):
    auction = "0x" + secrets.token_hex(16)
    stranger = running.client(messages.new_key())
    with pytest.raises(ValueError, match="open refused: not signed by the auctioneer's key"):
        stranger.open(auction, GRID, BITS, 4)
    msg = {"op": "open", "auction": auction, "levels": LEVELS, "grid": [str(p) for p in GRID], "bits": BITS,
           "max_bids": 4, "registered": {}}
    k = pair.parties(running.parties)[0]

    def raw(frame: dict) -> dict:  # a request as it goes on the wire, unsigned or replayed
        with socket.create_connection(k.control, timeout=30) as s:
            sock = tls.pinned_client_context(k.tls_cert).wrap_socket(s)
            wire.send(sock.makefile("wb"), frame)
            return wire.recv(sock.makefile("rb"))[0]

    assert raw(msg) == {"status": "refused", "reason": "open refused: not signed by the auctioneer's key"}
    client = running.client()
    orders = _orders(3, 4)
    auction, labels = _auction(client, orders)
    signed_close = messages.sign_control({"op": "close", "auction": auction}, messages.new_key())
    assert raw(signed_close)["reason"] == "close refused: not signed by the auctioneer's key"
    assert all("not signed" in r["reason"] for r in stranger.both({"op": "close", "auction": auction}))
    # the stranger's closes froze nothing: one more order is taken, and the auctioneer's close runs
    side, inc = _orders(4, 1)[0]
    key = messages.new_key()
    assert trader.submit_curve(client.access, auction, side, inc, BITS, key, signers=client.signers).ok
    r = client.close(auction)
    _check_twin(r, [*orders, (side, inc)], [*labels, messages.address(key)])
    # the auctioneer's own request, seen on the wire, is taken once
    real = messages.sign_control({"op": "close", "auction": "0x" + secrets.token_hex(16)}, running.control_key)
    assert raw(real)["reason"].endswith("is not open here")  # past the signature check
    assert raw(real)["reason"] == "close refused: a replayed control request"


def _rogue_identity(where: Path) -> tuple[Path, Path]:
    crt, key = where / "rogue.crt", where / "rogue.key"
    tls.make_identity(crt, key, "mevauction tfhe keyholder")  # the same name; another key
    return crt, key


def test_another_key_poses_as_neither_party(running, tmp_path):
    k, e = pair.parties(running.parties)
    crt, key = _rogue_identity(tmp_path)
    # As K to E: the link handshake fails (E accepts K's published certificate only) ...
    ctx = tls.pinned_client_context(e.tls_cert, (crt, key))
    assert e.link is not None
    with socket.create_connection(e.link, timeout=5) as s:
        try:
            sock = ctx.wrap_socket(s)
            wire.send(sock.makefile("wb"), {"type": "hello", "auction": "0x00"})
            got = sock.recv(1)  # TLS 1.3: E's refusal of the client certificate arrives here
        except TimeoutError:
            got = b"taken"  # E kept the link: it took the stranger for K
        except (ssl.SSLError, ConnectionError):
            got = b""
    assert got == b"", "E took a link from a key that is not K's"
    # ... as K or E to a trader or the auctioneer: a server with another key at their address
    rogue = socket.create_server(("127.0.0.1", 0))
    addr = rogue.getsockname()[:2]
    server_ctx = tls.pinned_server_context(crt, key)

    def serve() -> None:
        for _ in range(4):
            try:
                raw, _ = rogue.accept()
                server_ctx.wrap_socket(raw, server_side=True).close()
            except OSError:
                pass

    threading.Thread(target=serve, daemon=True).start()
    hijacked = PairAccess((addr, addr), pins=(k.tls_cert, e.tls_cert))
    sub = trader.submit_curve(hijacked, "0x" + "00" * 16, "buy", [1] * LEVELS, BITS, messages.new_key())
    assert len(sub.refused) == 2 and all("unreachable" in x and "certificate" in x for x in sub.refused), sub.refused
    doc = {**running.parties, "keyholder": {**running.parties["keyholder"], "control": f"{addr[0]}:{addr[1]}"}}
    refused = ServedPair(doc, running.control_key).request(0, {"op": "close", "auction": "0x00"})
    assert refused["status"] == "refused" and "certificate" in refused["reason"]
    rogue.close()
    # the pair still runs an auction after all that
    client = running.client()
    orders = _orders(5, 4)
    auction, labels = _auction(client, orders)
    _check_twin(client.close(auction), orders, labels)


def test_a_kill_9_of_the_key_holder_after_acknowledging_orders_loses_none(running):
    client = running.client()
    orders = _orders(6, 6)
    auction, labels = _auction(client, orders)  # every order has both receipts
    running.kill(0)
    running.start(0)  # same key, same state file
    r = client.close(auction)
    _check_twin(r, orders, labels)
    assert r.level is not None and r.quantities
    assert len(r.statements) == 2
