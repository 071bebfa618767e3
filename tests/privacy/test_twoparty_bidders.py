"""Bidders submit their own shares to the two-party backend (``sealed bid --backend 2pc``).

Attacks against a real pair of ``sealed party serve --intake`` processes on 127.0.0.1:
the auctioneer (this test process) never receives a bid or a share; replayed, relabelled,
misdirected, altered, late and squatting bids are refused; one party's share of a bid is
uniform and fresh on every seal; the outcome equals the plaintext twin.
"""

import dataclasses
import json
import random
import secrets
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from mevauction.privacy import mechanisms as M
from mevauction.privacy import messages
from mevauction.privacy.client import SealedBid, free_ports
from mevauction.privacy.twoparty import binding, party, submit
from mevauction.privacy.twoparty.local import PARTIES_FORMAT, RemotePair
from mevauction.privacy.twoparty.submit import PairAccess
from repo_paths import ROOT, SRC

ENV = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}


def cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "mevauction", *args], capture_output=True, text=True, cwd=ROOT,
                          env=ENV, timeout=timeout)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pair")
    tls_dir = tmp / "tls"
    assert cli("sealed", "party", "certs", "--out", str(tls_dir)).returncode == 0
    g_port, e_port, g_in, e_in = free_ports(4)
    base = [sys.executable, "-m", "mevauction", "sealed", "party", "serve", "--tls-dir", str(tls_dir),
            "--close-timeout", "10"]
    procs = [subprocess.Popen([*base, "--role", "evaluator", "--listen", f"127.0.0.1:{e_port}",
                               "--intake", f"127.0.0.1:{e_in}", "--key-file", str(tmp / "evaluator.key")],
                              env=ENV, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
             subprocess.Popen([*base, "--role", "garbler", "--listen", f"127.0.0.1:{g_port}",
                               "--intake", f"127.0.0.1:{g_in}", "--key-file", str(tmp / "garbler.key"),
                               "--peer", f"127.0.0.1:{e_port}"],
                              env=ENV, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    parties = {"format": PARTIES_FORMAT, "tls_dir": str(tls_dir), "garbler": f"127.0.0.1:{g_port}",
               "evaluator": f"127.0.0.1:{e_port}", "garbler_intake": f"127.0.0.1:{g_in}",
               "evaluator_intake": f"127.0.0.1:{e_in}"}
    # a bidder's parties file: the same addresses, a tls dir with the CA certificate only
    bidder_tls = tmp / "bidder-tls" / ".config"
    bidder_tls.mkdir(parents=True)
    (bidder_tls / "mpyc_ca.crt").write_bytes((tls_dir / ".config" / "mpyc_ca.crt").read_bytes())
    bidder_file = tmp / "bidder-parties.json"
    bidder_file.write_text(json.dumps({**parties, "tls_dir": str(bidder_tls.parent)}))
    path = tmp / "parties.json"
    path.write_text(json.dumps(parties))
    for _ in range(200):  # wait until both intakes listen
        try:
            with RemotePair(parties, timeout=1):
                break
        except OSError:
            time.sleep(0.05)
    try:
        yield {"file": path, "bidder_file": bidder_file, "parties": parties, "tmp": tmp, "procs": procs}
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)


def _spec(mechanism, max_bids=64, k=1, registered=None):
    return {"auction": "0x" + secrets.token_hex(16), "mechanism": mechanism, "max_bids": max_bids, "k": k,
            "registered": registered or {}}


def _open(pair, spec):
    """The auctioneer opens on one connection and closes on another (as ``sealed open|close``
    do): an open auction outlives the control link, so a long bidding window is fine."""
    with RemotePair(pair["parties"]) as remote:
        submit.open_auction(remote.chans, spec)


def _close(pair, spec, reserve=0):
    with RemotePair(pair["parties"]) as remote:
        return submit.close_auction(remote.chans, spec, reserve)


def _bidder():
    key = messages.new_key()
    return messages.address(key), key


class Recording:
    """Every frame the auctioneer's links carry, both ways (this process is the auctioneer)."""

    def __init__(self, monkeypatch):
        self.frames: list[bytes] = []
        send, recv = party.Channel.send, party.Channel.recv

        def rec_send(chan, data):
            self.frames.append(bytes(data))
            return send(chan, data)

        def rec_recv(chan, limit=1 << 31):
            data = recv(chan, limit)
            self.frames.append(bytes(data))
            return data

        monkeypatch.setattr(party.Channel, "send", rec_send)
        monkeypatch.setattr(party.Channel, "recv", rec_recv)


def _forms(value: int) -> list[bytes]:
    """How an amount or share could appear in a frame: decimal, hex, raw 8 bytes either order."""
    return [str(value).encode(), f"{value:x}".encode(), value.to_bytes(8, "big"), value.to_bytes(8, "little")]


@pytest.mark.slow
def test_the_auctioneer_never_receives_a_bid_or_a_share(pair, tmp_path, monkeypatch):
    # bidders are their own processes (the CLI); this process only opens and closes
    rec = Recording(monkeypatch)
    spec = _spec("second")
    _open(pair, spec)
    amounts = [random.randrange(10**15, 2**63) for _ in range(4)]
    openings = []
    for i, amount in enumerate(amounts):
        key_file, opening = tmp_path / f"k{i}", tmp_path / f"o{i}.json"
        key_file.write_text(messages.new_key().hex())
        proc = cli("sealed", "bid", "--backend", "2pc", "--parties-file", str(pair["bidder_file"]),
                   "--auction", spec["auction"], "--amount", str(amount), "--key-file", str(key_file),
                   "--opening", str(opening))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "accepted by every party" in proc.stdout
        openings.append(json.loads(opening.read_text()))
    r = _close(pair, spec)
    assert r.ok, r.reason
    order = sorted(range(4), key=lambda i: -amounts[i])
    labels = [o["bidder"] for o in openings]
    assert (r.bidders[r.winner], r.price) == (labels[order[0]], amounts[order[1]])
    secret = [a for i, a in enumerate(amounts) if i != order[1]]  # the price is the output
    shares = [int(s[0], 16) for o in openings for s in o["shares"]]
    wire = b"".join(rec.frames)
    assert rec.frames and len(wire) > 200
    for v in secret + shares:
        for form in _forms(v):
            assert form not in wire, f"the auctioneer saw {v} as {form!r}"


@pytest.mark.slow
def test_replayed_relabelled_misdirected_late_and_squatting_bids_are_refused(pair):
    access = PairAccess.from_parties(json.loads(pair["bidder_file"].read_text()))
    alice, alice_key = _bidder()
    mallory, mallory_key = _bidder()
    spec = _spec("first", registered={"builder-x": alice})
    _open(pair, spec)
    sealed = submit.seal(spec["auction"], SealedBid(alice, [777], key=alice_key))
    g, e = sealed.payloads
    assert submit.send(access, party.GARBLER, g)["ok"] and submit.send(access, party.EVALUATOR, e)["ok"]

    def refused(role, payload, why):
        reply = submit.send(access, role, payload)
        assert not reply["ok"] and why in reply["reason"], reply

    refused(party.GARBLER, g, "duplicate: this bid was already received")  # replayed as is
    refused(party.EVALUATOR, {**g}, "share does not match")  # the garbler's share sent to the evaluator
    refused(party.GARBLER, {**g, "share": hex(int(g["share"], 16) ^ 1)}, "share does not match")
    # the MACs that bind the other party's share: required, and under the share hash too
    refused(party.GARBLER, {k: v for k, v in g.items() if k != "bind"}, "bind: expected")
    tags = bytearray(bytes.fromhex(g["bind"]["tags"]))
    tags[0] ^= 1
    refused(party.GARBLER, {**g, "bind": {**g["bind"], "tags": tags.hex()}}, "share does not match")
    relabelled = {**g, "header": {**g["header"], "bidder": mallory}}
    refused(party.GARBLER, relabelled, "bad signature")
    # Mallory re-signs Alice's share under Alice's address, or under her registered name
    for label in (alice, "builder-x", "unregistered"):
        forged = submit.seal(spec["auction"], SealedBid(label, [1], key=mallory_key))
        refused(party.GARBLER, forged.payloads[0], "only its own key" if label == alice else "is not registered")
    # Alice again under the same label (a second bid), and her registered name once is fine
    again = submit.seal(spec["auction"], SealedBid(alice, [5], key=alice_key))
    refused(party.GARBLER, again.payloads[0], f"duplicate: {alice} already bid")
    named = submit.submit_bid(access, spec["auction"], SealedBid("builder-x", [900], key=alice_key))
    assert named.ok, named.refused
    # a reserve is the auctioneer's, not a bidder's
    fresh = submit.seal(spec["auction"], SealedBid(mallory, [1], key=mallory_key))
    h = dataclasses.replace(fresh.header, side="reserve", signature="")
    h = h.signed(mallory_key)
    refused(party.GARBLER, {**fresh.payloads[0], "header": h.to_json()}, "the reserve comes from the auctioneer")
    r = _close(pair, spec)
    assert r.ok and (r.bidders, r.winner, r.price) == ([alice, "builder-x"], 1, 900)
    # after the close: the same bid, or a fresh one, is late; into a new auction it does not fit
    refused(party.GARBLER, g, "late")
    late = submit.seal(spec["auction"], SealedBid(mallory, [3], key=mallory_key))
    refused(party.EVALUATOR, late.payloads[1], "late")
    spec2 = _spec("first")
    _open(pair, spec2)
    moved = {**g, "header": {**g["header"], "auction": spec2["auction"]}}
    refused(party.GARBLER, moved, "bad signature")
    only_garbler = submit.seal(spec2["auction"], SealedBid(mallory, [10**18], key=mallory_key))
    assert submit.send(access, party.GARBLER, only_garbler.payloads[0])["ok"]
    ok = submit.submit_bid(access, spec2["auction"], SealedBid(alice, [4], key=alice_key))
    assert ok.ok
    r2 = _close(pair, spec2)
    # the bid that reached one party only is left out at both (and counted)
    assert r2.ok and (r2.bidders, r2.price, r2.excluded) == ([alice], 4, 1)


def test_one_partys_share_is_uniform_and_fresh_on_every_seal():
    """What a party receives (``share`` in its payload, checked against its hash) is a
    uniform 64-bit value whatever the bid: same bid twice → unrelated shares."""
    auction = "0x" + secrets.token_hex(16)
    label, key = _bidder()
    n = 2000
    for value in (0, 2**64 - 1):
        for role in (0, 1):
            got = [int(submit.seal(auction, SealedBid(label, [value], key=key)).payloads[role]["share"], 16)
                   for _ in range(n)]
            assert len(set(got)) == n  # never the same share twice
            for bit in range(64):  # every bit balanced: |ones - n/2| under 5 standard deviations
                ones = sum(v >> bit & 1 for v in got)
                assert abs(ones - n / 2) < 5 * (n / 4) ** 0.5, (value, role, bit, ones)
    s = submit.seal(auction, SealedBid(label, [12345], key=key))
    a, b = (int(p["share"], 16) for p in s.payloads)
    assert a ^ b == 12345 and s.header.signature_valid()


def test_a_partys_mac_material_reveals_nothing_about_the_bid_or_the_other_share():
    """All a party gets besides its share (``binding``): its sketch mask, the tags on its own
    bits and the keys (K_l, α from its seed) on the other party's bits. Each of those bits is
    balanced whatever the bid, and the keys do not follow the other party's share: the
    fraction of key bits equal to the share bit they key is 1/2 (a key made from the share,
    e.g. K_l = a_l·α, or tags that leak a_l, fail here)."""
    auction = "0x" + secrets.token_hex(16)
    label, key = _bidder()
    n, bound = 1000, lambda count: 5 * (count / 4) ** 0.5
    for value in (0, 2**64 - 1):
        for role in (0, 1):
            sealed = [submit.seal(auction, SealedBid(label, [value], key=key)) for _ in range(n)]
            other = [int(s.payloads[1 - role]["share"], 16) for s in sealed]
            binds = [s.payloads[role]["bind"] for s in sealed]
            keys = [binding.keys(bytes.fromhex(b["key"]), 64 + binding.SKETCH) for b in binds]
            tags = [np.frombuffer(bytes.fromhex(b["tags"]), np.uint64) for b in binds]
            masks = [int(b["mask"], 16) for b in binds]
            assert len({b["key"] for b in binds}) == n and len(set(masks)) == n  # fresh every seal
            for bit in range(binding.SKETCH):
                assert abs(sum(m >> bit & 1 for m in masks) - n / 2) < bound(n), ("mask", value, role, bit)
            alphas = np.array([a for _, a in keys], np.uint64)
            views = (("key", np.array([k[:64] for k, _ in keys])), ("tag", np.array([t[:64] for t in tags])))
            for name, words in views:
                ones = np.unpackbits(words.view(np.uint8), axis=1).sum(axis=0)  # every bit of every word
                assert (abs(ones - n / 2) < bound(n)).all(), (name, value, role)
            assert (abs(np.unpackbits(alphas.view(np.uint8)).reshape(n, 64).sum(axis=0) - n / 2) < bound(n)).all()
            for bit in range(64):  # K_l's low bit against the other party's share bit l, over all seals
                same = sum((int(k[bit]) & 1) == (o >> bit & 1) for (k, _), o in zip(keys, other, strict=True))
                assert abs(same - n / 2) < bound(n), ("key follows the share", value, role, bit)


@pytest.mark.slow
@pytest.mark.parametrize("mechanism", ["first", "second", "topk", "builder"])
def test_outcome_equals_the_plaintext_twin(pair, mechanism):
    access = PairAccess.from_parties(json.loads(pair["bidder_file"].read_text()))
    rng = random.Random(mechanism)
    # the circuit is garbled at open for max_bids rows; the rows nobody fills are zeros
    # (ties and all-zero bids check they never change the outcome); the last round's topk
    # asks for more units than bids, so the parties garble again for the agreed n
    for round_ in range(3):
        n = rng.randrange(1, 12)
        top = rng.choice([1, 3, 50, 2**64 - 1])
        amounts = [rng.randrange(0, top + 1) for _ in range(n)]
        reserve = rng.choice([0, rng.randrange(0, top + 1)]) if mechanism == "builder" else 0
        k = rng.randrange(1, n + 1) if mechanism == "topk" else 1
        spec = _spec(mechanism, max_bids=16, k=n + 2 if mechanism == "topk" and round_ == 2 else k)
        k = n if mechanism == "topk" and round_ == 2 else k  # the parties run with k = n then
        _open(pair, spec)
        labels = []
        for a in amounts:
            label, key = _bidder()
            assert submit.submit_bid(access, spec["auction"], SealedBid(label, [a], key=key)).ok
            labels.append(label)
        r = _close(pair, spec, reserve)
        assert r.ok and r.bidders == labels, r.reason
        clear = (M.clear_topk(amounts, k) if mechanism == "topk" else M.clear_builder(reserve, amounts)
                 if mechanism == "builder" else M.clear_first(amounts) if mechanism == "first"
                 else M.clear_second(amounts))
        assert (r.winner, r.price) == (clear.winner, clear.price)
        if mechanism == "topk":
            assert sorted(r.winners) == clear.winners


def test_bid_without_a_pair_names_the_field(tmp_path):
    proc = cli("sealed", "bid", "--backend", "2pc", "--auction", "0x01", "--amount", "5", "--opening",
               str(tmp_path / "o.json"))
    assert proc.returncode == 2 and proc.stderr.strip().startswith("error: --parties-file:"), proc.stderr
    proc = cli("sealed", "bid", "--auction", "0x01", "--amount", "5", "--opening", str(tmp_path / "o.json"))
    assert proc.returncode == 2 and proc.stderr.strip().startswith("error: --committee:"), proc.stderr


@pytest.mark.slow
def test_cli_open_bid_close_and_verify(pair, tmp_path):
    """The whole flow as separate processes: the auctioneer's ``sealed open``/``close``,
    bidders' ``sealed bid``; the transcript verifies against the pair's published key set."""
    spec_path, report = tmp_path / "spec.json", tmp_path / "report.json"
    proc = cli("sealed", "open", "--backend", "2pc", "--parties-file", str(pair["file"]), "--mechanism", "builder",
               "--max-bids", "8", "--spec", str(spec_path))
    assert proc.returncode == 0, proc.stderr
    auction = json.loads(spec_path.read_text())["auction"]
    keys = tmp_path / "keys.json"
    tmp = pair["tmp"]
    assert cli("sealed", "party", "keyset", str(tmp / "garbler.key.signer.address"),
               str(tmp / "evaluator.key.signer.address"), "--out", str(keys)).returncode == 0
    for i, amount in enumerate((500, 900, 700)):
        proc = cli("sealed", "bid", "--backend", "2pc", "--parties-file", str(pair["bidder_file"]), "--auction",
                   auction, "--amount", str(amount), "--opening", str(tmp_path / f"o{i}.json"),
                   "--committee-keys", str(keys))
        assert proc.returncode == 0, proc.stdout + proc.stderr
    winner = json.loads((tmp_path / "o1.json").read_text())["bidder"]
    # receipts checked against a key set that is not the pair's: the bidder reports it (exit 1);
    # the parties did take the bid (1 wei, it loses), as n_bids = 4 below shows
    other = tmp_path / "other-keys.json"
    other.write_text(json.dumps({"format": "mevauction.committee/1", "members": [
        {"index": i, "signer": messages.address(messages.new_key()), "encryption_key": ""} for i in range(2)]}))
    proc = cli("sealed", "bid", "--backend", "2pc", "--parties-file", str(pair["bidder_file"]), "--auction",
               auction, "--amount", "1", "--opening", str(tmp_path / "x.json"), "--committee-keys", str(other))
    assert proc.returncode == 1 and "not signed by the pair's published key" in proc.stdout, proc.stdout
    proc = cli("sealed", "close", "--backend", "2pc", "--parties-file", str(pair["file"]), "--spec", str(spec_path),
               "--reserve", "800", "--json", str(report))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(report.read_text())
    assert (doc["backend"], doc["winner"], doc["price"], doc["n_bids"]) == ("2pc", winner, 800, 4)
    ok = cli("sealed", "verify", str(report), "--committee-keys", str(keys))
    assert ok.returncode == 0 and "transcript OK" in ok.stdout, ok.stdout + ok.stderr
    # the closed auction takes no more bids
    proc = cli("sealed", "bid", "--backend", "2pc", "--parties-file", str(pair["bidder_file"]), "--auction",
               auction, "--amount", "1000", "--opening", str(tmp_path / "late.json"))
    assert proc.returncode == 1 and "late" in proc.stdout, proc.stdout


class Tap:
    """A TCP forwarder in front of one party's intake that keeps every byte it relays."""

    def __init__(self, target):
        import socket
        import threading

        self.seen = bytearray()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]

        def pipe(src, dst):
            try:
                while data := src.recv(65536):
                    self.seen += data
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                dst.close()

        def loop():
            while True:
                try:
                    client, _ = self.listener.accept()
                except OSError:
                    return
                server = socket.create_connection(target)
                threading.Thread(target=pipe, args=(client, server), daemon=True).start()
                threading.Thread(target=pipe, args=(server, client), daemon=True).start()

        threading.Thread(target=loop, daemon=True).start()


@pytest.mark.slow
def test_sniffing_a_bidders_links_yields_no_share(pair, tmp_path):
    """Between a bidder process and each party sits a tap: TLS hides the share and amount."""
    parties = json.loads(pair["bidder_file"].read_text())
    taps = []
    for name in ("garbler_intake", "evaluator_intake"):
        host, _, port = parties[name].rpartition(":")
        taps.append(Tap((host, int(port))))
        parties[name] = f"127.0.0.1:{taps[-1].port}"
    tapped = tmp_path / "tapped.json"
    tapped.write_text(json.dumps(parties))
    spec = _spec("first")
    _open(pair, spec)
    amount = 1234567890123456789
    proc = cli("sealed", "bid", "--backend", "2pc", "--parties-file", str(tapped), "--auction", spec["auction"],
               "--amount", str(amount), "--opening", str(tmp_path / "o.json"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    opening = json.loads((tmp_path / "o.json").read_text())
    assert _close(pair, spec).price == amount
    wire = bytes(taps[0].seen + taps[1].seen)
    assert len(taps[0].seen) > 1000 and len(taps[1].seen) > 1000
    for v in [amount, *(int(s[0], 16) for s in opening["shares"])]:
        for form in _forms(v):
            assert form not in wire
    assert opening["bidder"].encode() not in wire  # even the header travels encrypted


@pytest.mark.slow
def test_a_restarted_party_keeps_the_shares_it_acknowledged(pair):
    """kill -9 the evaluator while an auction is open: restarted on the same key, its
    intake (``--state``, SQLite beside the key) still holds the two shares it receipted,
    takes a third bid, and the close gives the outcome of all three (garbled at the close,
    since the preparation made at open died with the process)."""
    access = PairAccess.from_parties(json.loads(pair["bidder_file"].read_text()))
    spec = _spec("second", max_bids=8)
    _open(pair, spec)
    labels = []
    for amount in (700, 900):
        label, key = _bidder()
        assert submit.submit_bid(access, spec["auction"], SealedBid(label, [amount], key=key)).ok
        labels.append(label)
    old = pair["procs"][0]
    old.kill()
    old.wait()
    pair["procs"][0] = subprocess.Popen(old.args, env=ENV, cwd=ROOT, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
    for _ in range(400):  # until the restarted evaluator's intake listens
        try:
            socket.create_connection(access.intake[1], timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    label, key = _bidder()
    third = submit.submit_bid(access, spec["auction"], SealedBid(label, [800], key=key))
    assert third.ok, third.refused
    labels.append(label)
    r = _close(pair, spec)
    assert r.ok and r.bidders == labels, r.reason
    assert (r.winner, r.price) == (1, 800)
