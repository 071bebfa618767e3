"""`mevauction preconf …` commands (bid-hash and residual per spec/preconf.md)."""

import json

import pytest

from mevauction.cli import main
from mevauction.preconf.keys import Signer

CONTRACT = "0xA4AD4f68d0b91CFD19687c881e50f3A00242828c"
SPEC_BID = {"txnHash": "0xkartik", "revertingTxHashes": "0xkartik", "bidAmt": "2", "blockNumber": 2,
            "decayStartTimeStamp": 10, "decayEndTimeStamp": 20, "slashAmt": "0",
            "bidderPKx": "1", "bidderPKy": "2", "bidOptions": "0x1234"}


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_bid_hash_prints_mev_commit_digest(tmp_path, capsys):
    path = tmp_path / "bid.json"
    path.write_text(json.dumps(SPEC_BID))
    code, out, _ = run(capsys, "preconf", "bid-hash", str(path), "--chain-id", "31337", "--contract", CONTRACT)
    assert code == 0
    assert out == "63fc79776bb6995561cf5850551f6abf99471e5130bd3785feff90285f7dda26\n"


def test_bid_hash_accepts_integers_for_amounts(tmp_path, capsys):
    path = tmp_path / "bid.json"
    path.write_text(json.dumps({**SPEC_BID, "bidAmt": 2, "bidderPKx": 1, "bidderPKy": 2, "slashAmt": 0}))
    _, out, _ = run(capsys, "preconf", "bid-hash", str(path), "--chain-id", "31337", "--contract", CONTRACT)
    assert out.strip() == "63fc79776bb6995561cf5850551f6abf99471e5130bd3785feff90285f7dda26"


@pytest.mark.parametrize(
    "start,end,dispatch,expected",
    [
        (1000, 2000, 500, 10**18),
        (1000, 2000, 2000, 0),
        (2000, 1000, 1500, 0),
        (100000, 200000, 100001, 999990000000000000),
    ],
)
def test_residual(capsys, start, end, dispatch, expected):
    code, out, _ = run(
        capsys, "preconf", "residual", "--start", str(start), "--end", str(end), "--dispatch", str(dispatch)
    )
    assert code == 0 and out == f"{expected}\n"


def test_bad_input_is_one_line_naming_the_field(tmp_path, capsys):
    path = tmp_path / "bid.json"
    path.write_text(json.dumps({**SPEC_BID, "bidAmt": "2.5"}))
    code, _, err = run(capsys, "preconf", "bid-hash", str(path), "--chain-id", "31337", "--contract", CONTRACT)
    assert code == 2 and err.startswith("error: bid.bidAmt:") and err.count("\n") == 1
    path.write_text(json.dumps(SPEC_BID))
    code, _, err = run(capsys, "preconf", "bid-hash", str(path), "--chain-id", "31337", "--contract", "0x12")
    assert code == 2 and "--contract" in err
    code, _, err = run(capsys, "preconf", "residual", "--start", "-1", "--end", "2", "--dispatch", "0")
    assert code == 2 and "--start" in err


def test_sign_commit_settle_round_trip(tmp_path, capsys):
    bidder_key, provider_key, nike_key = tmp_path / "bidder.key", tmp_path / "provider.key", tmp_path / "nike.key"
    bidder_key.write_text("9C0257114EB9399A2985F8E75DAD7600C5D89FE3824FFA99EC1C3EB8BF3B0501\n")
    provider_key.write_text("38E47A7B719DCE63662AEAF43440326F551B8A7EE198CEE35CB5D517F2D296A2\n")
    nike_key.write_text("0x2a\n")
    bid = {**SPEC_BID, "txnHash": "ab" * 32, "bidAmt": "1000000", "slashAmt": "500", "decayStartTimeStamp": 1000,
           "bidOptions": "0x",
           "decayEndTimeStamp": 2000, "blockNumber": 7}
    (tmp_path / "bid.json").write_text(json.dumps(bid))
    common = ["--chain-id", "31337", "--contract", CONTRACT]
    assert run(capsys, "preconf", "sign-bid", str(tmp_path / "bid.json"), *common, "--key-file", str(bidder_key),
               "--out", str(tmp_path / "signed.json"))[0] == 0
    assert run(capsys, "preconf", "commit", str(tmp_path / "signed.json"), *common, "--key-file", str(provider_key),
               "--nike-key-file", str(nike_key), "--dispatch", "1250", "--out", str(tmp_path / "c.json"))[0] == 0
    commitment = json.loads((tmp_path / "c.json").read_text())
    provider = Signer("38E47A7B719DCE63662AEAF43440326F551B8A7EE198CEE35CB5D517F2D296A2").address
    assert commitment["provider"] == provider
    (tmp_path / "block.json").write_text(json.dumps({"blockNumber": 7, "winner": provider,
                                                      "transactions": ["0x" + "cd" * 32, "0x" + "ab" * 32]}))
    code, out, err = run(capsys, "preconf", "settle", str(tmp_path / "c.json"), str(tmp_path / "block.json"),
                       "--stake", "1000000000", "--recorded-ms", "1300")
    assert out, err
    result = json.loads(out)
    assert code == 0 and result["kind"] == "reward" and result["residual"] == str(75 * 10**16)
    assert result["provider_payout"] == str(750000 - 15000) and result["bidder_refund"] == "250000"
    (tmp_path / "block.json").write_text(json.dumps({"blockNumber": 7, "winner": provider, "transactions": []}))
    _, out, _ = run(
        capsys, "preconf", "settle", str(tmp_path / "c.json"), str(tmp_path / "block.json"), "--stake", "10000",
        "--recorded-ms", "1300")
    assert json.loads(out)["kind"] == "slash" and json.loads(out)["slash_penalty"] == "25"
    # A tampered commitment signature is refused as input, in one line.
    commitment["commitmentSignature"] = commitment["commitmentSignature"][:-2] + "05"
    (tmp_path / "c.json").write_text(json.dumps(commitment))
    code, _, err = run(
        capsys, "preconf", "settle", str(tmp_path / "c.json"), str(tmp_path / "block.json"), "--stake", "1",
        "--recorded-ms", "1300")
    assert code == 2 and err.startswith("error: COMMITMENT.json")
