"""Python client for the mevauction service (``mevauction serve``).

Requests are signed the Flashbots way (``X-Flashbots-Signature``), so the same key
identifies a searcher to this service and to Flashbots-style relays::

    from mevauction.client import Client, Signer, signed_transfer
    key = Signer.random()
    with Client("http://127.0.0.1:8545", key) as c:
        slot = c.slot()["slot"]
        tx = signed_transfer(key.private_key, nonce=0, to="0x" + "11" * 20, tip=2 * 10**9)
        c.send_bundle([tx], slot)
        report = c.wait_report(slot)
"""

from mevauction.client.sdk import AsyncClient, Client, RpcError, Signer, signed_transfer

__all__ = ["AsyncClient", "Client", "RpcError", "Signer", "signed_transfer"]
