"""The two-party backend with long-running parties (``mevauction sealed party serve``):
the auctioneer's ``sealed run --parties-file`` uses them for several auctions, and neither
a remote shutdown nor another party's certificate nor a silent auctioneer stops them."""

import json
import socket
import time

import pytest

from mevauction.privacy.twoparty import party
from mevauction.privacy.twoparty.local import PARTIES_FORMAT, RemotePair
from pair_procs import cli, running_pair


@pytest.fixture
def pair(tmp_path):
    with running_pair(tmp_path) as running:
        yield running


def _bids(tmp_path, amounts):
    path = tmp_path / "bids.json"
    path.write_text(json.dumps({"format": "mevauction.bids/1", "bids": [
        {"bidder": f"b{i}", "amount": str(a)} for i, a in enumerate(amounts)]}))
    return path


@pytest.mark.slow
def test_sealed_run_uses_running_parties_for_several_auctions(tmp_path, pair):
    path, parties, procs, _ = pair
    out = tmp_path / "report.json"
    for amounts, winner, price in (([120, 300, 250, 299, 7], "b1", 299), ([5, 9, 1], "b1", 5)):
        proc = cli("sealed", "run", "--backend", "2pc", "--parties-file", str(path), "--bids",
                   str(_bids(tmp_path, amounts)), "--mechanism", "second", "--json", str(out))
        assert proc.returncode == 0, proc.stderr
        report = json.loads(out.read_text())
        assert (report["backend"], report["winner"], report["price"]) == ("2pc", winner, price)
    # the operators publish the pair's key set; the last run's transcript verifies against it
    keys = tmp_path / "pair.json"
    for _ in range(100):  # the parties write their addresses as they start
        if (tmp_path / "evaluator.key.signer.address").exists():
            break
        time.sleep(0.05)
    assert cli("sealed", "party", "keyset", str(tmp_path / "garbler.key.signer.address"),
               str(tmp_path / "evaluator.key.signer.address"), "--out", str(keys)).returncode == 0
    ok = cli("sealed", "verify", str(out), "--committee-keys", str(keys))
    assert ok.returncode == 0 and "transcript OK" in ok.stdout, ok.stdout
    # the auctioneer's own certificate cannot stop a long-running party
    with RemotePair(parties) as remote:
        for chan in remote._chans:
            chan.send_json({"op": "shutdown"})
            reply = chan.recv_json()
            assert reply["status"] == "aborted" and "remote shutdown is disabled" in reply["reason"]
    time.sleep(0.3)
    assert all(p.poll() is None for p in procs)
    with RemotePair(parties) as remote:
        r = remote.run("first", [3, 8, 2])
        assert r.ok and (r.winner, r.price) == (1, 8)


@pytest.mark.slow
def test_only_the_auctioneer_controls_and_a_silent_one_times_out(tmp_path, pair):
    path, parties, procs, (g_port, e_port) = pair
    tls_dir = parties["tls_dir"]
    # the garbler's certificate (same CA) is not the auctioneer's: the evaluator takes no job from it
    with pytest.raises((ConnectionError, OSError)):
        fake = party.connect(tls_dir, party.GARBLER, "127.0.0.1", e_port, expect=party.EVALUATOR, timeout=10)
        fake.sock.settimeout(10)
        fake.send_json({"op": "job", "mechanism": "first", "n": 1, "shares": ["5"]})
        fake.recv_json()
    # a job opened and never closed is aborted by the parties' --close-timeout, not held forever
    boss = party.connect(tls_dir, party.AUCTIONEER, "127.0.0.1", e_port, expect=party.EVALUATOR, timeout=10)
    boss.sock.settimeout(20)
    boss.send_json({"op": "job", "mechanism": "first", "n": 1, "shares": ["5"]})  # no garbler will come
    t0 = time.monotonic()
    reply = boss.recv_json()
    assert reply["status"] == "aborted" and time.monotonic() - t0 < 15
    boss.close()
    # and the pair still serves the auctioneer
    proc = cli("sealed", "run", "--backend", "2pc", "--parties-file", str(path), "--bids",
               str(_bids(tmp_path, [4, 40, 30])), "--mechanism", "first", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["price"] == 40
    assert all(p.poll() is None for p in procs)
    with socket.create_connection(("127.0.0.1", g_port), timeout=5):
        pass  # still listening


def test_parties_file_errors_name_the_field(tmp_path):
    bad = tmp_path / "parties.json"
    bad.write_text(json.dumps({"format": PARTIES_FORMAT, "tls_dir": str(tmp_path), "garbler": "nohost"}))
    bids = _bids(tmp_path, [1, 2])
    proc = cli("sealed", "run", "--backend", "2pc", "--parties-file", str(bad), "--bids", str(bids),
               "--mechanism", "first")
    assert proc.returncode == 2 and proc.stderr.strip().startswith("error: --parties-file:"), proc.stderr
    proc = cli("sealed", "party", "serve", "--role", "garbler", "--listen", "x", "--tls-dir", str(tmp_path),
               "--key-file", str(tmp_path / "k"))
    assert proc.returncode == 2 and proc.stderr.strip().startswith("error: --listen:"), proc.stderr


@pytest.mark.slow
def test_pair_transcripts_verify_and_forgeries_fail(tmp_path):
    """A local pair's signed transcript verifies against its key set; one re-signed with
    other keys, one for a run that never happened, an aborted one and an altered outcome fail."""
    from mevauction.privacy import messages
    from mevauction.privacy.transcript import verify

    bids = _bids(tmp_path, [120, 300, 250])
    out = tmp_path / "r.json"
    proc = cli("sealed", "run", "--backend", "2pc", "--bids", str(bids), "--mechanism", "second", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    keys_path = tmp_path / "r.committee.json"
    assert cli("sealed", "verify", str(out), "--committee-keys", str(keys_path)).returncode == 0
    doc = json.loads((tmp_path / "r.transcript.json").read_text())
    keys = json.loads(keys_path.read_text())
    assert verify(doc, keys) == [] and (doc["outcome"]["winner"], doc["outcome"]["price"]) == ("b1", 250)
    assert verify(doc, None)  # nothing pinned: never OK

    def resign(statements, outcome=None):
        out = []
        for st in statements:
            key = messages.new_key()
            body = {k: v for k, v in st.items() if k != "signature"}
            body.update(signer=messages.address(key), **({"outcome": outcome} if outcome else {}))
            out.append({**body, "signature": messages.sign(messages.statement_digest(body), key)})
        return out

    forged = resign(doc["statements"])
    members = [{**m, "signer": s["signer"]} for m, s in zip(keys["members"], forged, strict=True)]
    resigned = {**doc, "statements": forged, "committee": {**keys, "members": members}}
    assert "the servers' signing keys are not the pinned committee's" in verify(resigned, keys)
    never_ran = {**resigned, "auction": "0x" + "ab" * 16, "statements": [
        {**s, "auction": "0x" + "ab" * 16} for s in resign(doc["statements"], {"winner": 0, "price": 1})],
        "outcome": {"winner": "b0", "price": 1, "winners": ["b0"]}}
    assert verify(never_ran, keys)
    assert verify({**doc, "status": "aborted", "reason": "evaluator: peer closed the link"}, keys)
    cheaper = {**doc, "outcome": {**doc["outcome"], "price": 1}}
    assert "the transcript's outcome is not the one the parties signed" in verify(cheaper, keys)
    swapped = {**doc, "bidders": ["b1", "b0", "b2"]}
    assert verify(swapped, keys)
