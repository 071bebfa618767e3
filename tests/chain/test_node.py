"""The embedded anvil: starts on a free port with mining off, mines only when asked, stops."""

from __future__ import annotations

import pytest

from mevauction.chain.node import Anvil
from mevauction.chain.rpc import NodeUnavailable, RpcClient, RpcError

pytestmark = pytest.mark.slow


def test_anvil_mines_only_when_asked_and_keeps_fifo_order():
    with Anvil() as node:
        rpc = node.client()
        assert rpc.chain_id() == 31337
        head = rpc.block_number()
        accounts = rpc.call("eth_accounts")
        hashes = [rpc.call("eth_sendTransaction", {"from": accounts[0], "to": accounts[1], "value": hex(i + 1)})
                  for i in range(3)]
        assert rpc.block_number() == head, "mining is off: nothing mined until evm_mine"
        rpc.call("evm_mine")
        block = rpc.block("latest")
        assert block is not None and int(block["number"], 16) == head + 1
        assert block["transactions"] == hashes, "FIFO: the block keeps the order the transactions were sent"
        with pytest.raises(RpcError):
            rpc.call("no_such_method")
        url = node.url
    with pytest.raises(NodeUnavailable):
        RpcClient(url, timeout=1.0).block_number()
