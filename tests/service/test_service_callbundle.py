"""``eth_callBundle`` through the running service, on its configured evm world's state.

The answer is in Flashbots' shape and agrees with the evm world's own top-of-block
simulation of the same transactions; unsigned calls, bad params and invalid
transactions get JSON-RPC error objects naming what is wrong.
"""


import httpx
import pytest
from service_harness import world_server

from mevauction.client import Client, Signer
from mevauction.client.sdk import RpcError as ClientRpcError
from mevauction.eth.transactions import DYNAMIC_FEE, sign
from mevauction.intake.workloads.evm import key_for

pytestmark = pytest.mark.slow  # starts a service process

pytest.importorskip("pyrevm")


@pytest.fixture(scope="module")
def generated():
    from mevauction.intake.workloads.evm import generate
    return generate(orders=12, seed=4)


@pytest.fixture(scope="module")
def server(tmp_path_factory, generated):
    proc = world_server(tmp_path_factory.mktemp("callbundle"), generated)
    yield proc
    proc.stop()


def test_call_bundle_answers_like_the_world_simulates(server, generated):
    from mevauction.worlds.evm.world import from_scenario

    world = from_scenario({**generated, "builders": []})
    backrun = next(o for o in generated["orders"] if o["kind"] == "backrun")
    top = world.top[backrun["id"]]
    number = generated["world"]["block"]["number"]
    with Client(server.url, Signer.random()) as client:
        answer = client.call("eth_callBundle", [{"txs": backrun["raw_txs"], "blockNumber": hex(number),
                                                 "stateBlockNumber": "latest"}])
    assert set(answer) >= {"results", "bundleGasPrice", "bundleHash", "coinbaseDiff", "ethSentToCoinbase",
                           "gasFees", "stateBlockNumber", "totalGasUsed"}
    assert answer["stateBlockNumber"] == number - 1
    assert [r["gasUsed"] for r in answer["results"]] == [t.gas_used for t in top.txs]
    assert answer["totalGasUsed"] == top.gas_used
    assert answer["coinbaseDiff"] == str(top.coinbase_delta), "a decimal string, equal to the order's bid"
    assert [r["txHash"] for r in answer["results"]] == list(backrun["txs"])
    assert int(answer["results"][1]["ethSentToCoinbase"]) > 0, "the arbitrage pays the coinbase directly"
    assert all(isinstance(r["coinbaseDiff"], str) for r in answer["results"])


def test_call_bundle_refuses_unsigned_malformed_and_invalid(server, generated):
    swap = next(o for o in generated["orders"] if o["kind"] == "swap")
    number = hex(generated["world"]["block"]["number"])
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_callBundle", "params": [{"txs": swap["raw_txs"],
                                                                                "blockNumber": number}]}
    unsigned = httpx.post(server.url, json=body, timeout=10).json()
    assert unsigned["error"]["code"] == -32001
    with Client(server.url, Signer.random()) as client:
        with pytest.raises(ClientRpcError) as caught:
            client.call("eth_callBundle", [{"blockNumber": number}])
        assert caught.value.code == -32602 and caught.value.message.startswith("txs")
        with pytest.raises(ClientRpcError) as caught:
            client.call("eth_callBundle", [{"txs": swap["raw_txs"], "blockNumber": number, "gasLimit": "0x1"}])
        assert caught.value.message.startswith("gasLimit")
        with pytest.raises(ClientRpcError) as caught:  # the same transaction again: its nonce is used
            client.call("eth_callBundle", [{"txs": [swap["raw_txs"][0], swap["raw_txs"][0]], "blockNumber": number}])
        assert caught.value.code == -32602 and "repeats" in caught.value.message
        key = key_for(4, "user", 0)
        gap = sign(key, DYNAMIC_FEE, chain_id=generated["world"]["chain_id"], nonce=9, gas_limit=21_000,
                   to="0x" + "11" * 20, value=1, max_priority_fee=10**9, max_fee=10**12)
        with pytest.raises(ClientRpcError) as caught:
            client.call("eth_callBundle", [{"txs": ["0x" + gap.hex()], "blockNumber": number}])
        assert caught.value.code == -32000 and caught.value.message.startswith("txs[0]")
        assert "nonce 9" in caught.value.message
