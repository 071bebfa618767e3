"""Backtest input: a node's block + prestateTracer output and Flashbots bundles."""

import json

from eth_account import Account
from eth_utils import to_checksum_address

from conftest import BASE_FEE, ETHER, GWEI, signed, user_key
from mevauction.cli import main
from mevauction.worlds import build_world
from mevauction.worlds.evm.state import state_to_json

PAYEE = "0x" + "ab" * 20


def rpc_tx(key: bytes, nonce: int) -> dict:
    """A type-2 transaction as eth_getBlockByNumber(n, true) returns it."""
    tx = {"chainId": 1, "nonce": nonce, "gas": 21_000, "to": to_checksum_address(PAYEE), "value": ETHER,
          "maxFeePerGas": 3 * BASE_FEE, "maxPriorityFeePerGas": GWEI, "accessList": []}
    s = Account.sign_transaction(tx, key)
    return {"type": "0x2", "chainId": "0x1", "nonce": hex(nonce), "gas": hex(21_000), "to": PAYEE,
            "value": hex(ETHER), "maxFeePerGas": hex(3 * BASE_FEE), "maxPriorityFeePerGas": hex(GWEI),
            "input": "0x", "accessList": [], "v": hex(s.v), "yParity": hex(s.v), "r": hex(s.r), "s": hex(s.s),
            "hash": "0x" + bytes(s.hash).hex()}


def test_block_prestate_and_bundles_to_auction(genesis, tmp_path):
    block = {"number": "0x1", "timestamp": hex(1_700_000_000), "baseFeePerGas": hex(BASE_FEE),
             "gasLimit": hex(30_000_000), "miner": "0x" + "95" * 20,
             "transactions": [rpc_tx(user_key(0), 0), rpc_tx(user_key(1), 0)]}
    state = state_to_json(genesis.accounts)
    later = {addr: {**acc, "balance": "0x1"} for addr, acc in state.items()}  # second tx's view: ignored
    prestate = [{"txHash": "0x01", "result": state}, {"txHash": "0x02", "result": later}]
    bundles = [{"jsonrpc": "2.0", "id": 1, "method": "eth_sendBundle",
                "params": [{"txs": [signed(user_key(2), PAYEE, value=1)], "blockNumber": "0x1"}]}]
    paths = {}
    for name, obj in (("block", block), ("prestate", prestate), ("bundles", bundles)):
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(obj))
    out = tmp_path / "slot.json"
    assert main(["evm", "from-rpc", "--block", str(paths["block"]), "--prestate", str(paths["prestate"]),
                 "--bundles", str(paths["bundles"]), "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    world = build_world(doc)
    assert [r.success for r in world.top.values()] == [True, True, True]
    assert world.top["tx0"].coinbase_delta == 21_000 * GWEI
    report = tmp_path / "report.json"
    assert main(["auction", str(out), "--json", str(report)]) == 0
    assert json.loads(report.read_text())["format"] == "mevauction.report/1"


def test_tampered_rpc_transaction_is_rejected(genesis, tmp_path, capsys):
    tx = rpc_tx(user_key(0), 0)
    tx["value"] = hex(2 * ETHER)
    block = {"number": "0x1", "timestamp": "0x1", "baseFeePerGas": "0x1", "gasLimit": "0x1c9c380",
             "transactions": [tx]}
    (tmp_path / "b.json").write_text(json.dumps(block))
    (tmp_path / "p.json").write_text(json.dumps({}))
    assert main(["evm", "from-rpc", "--block", str(tmp_path / "b.json"), "--prestate", str(tmp_path / "p.json")]) == 2
    assert "block.transactions[0].hash" in capsys.readouterr().err
