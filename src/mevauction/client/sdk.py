"""Signing and the HTTP calls of :mod:`mevauction.client` (sync and async)."""

from __future__ import annotations

import base64
import itertools
import json
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpx

from mevauction.eth import fields, secp256k1, transactions
from mevauction.eth.messages import FLASHBOTS_HEADER, flashbots_header


class RpcError(Exception):
    """A JSON-RPC error object returned by the service."""

    def __init__(self, code: int, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Signer:
    """A secp256k1 key that signs requests (and, in examples, transactions)."""

    def __init__(self, private_key: bytes):
        self.private_key = private_key
        self.address = secp256k1.address_of(private_key)

    @classmethod
    def random(cls) -> Signer:
        return cls(os.urandom(32))

    def headers(self, body: bytes) -> dict[str, str]:
        return {"Content-Type": "application/json",
                FLASHBOTS_HEADER: flashbots_header(body, self.private_key)}


# The service's chain id unless configured otherwise (anvil's); ``eth_chainId`` says which.
DEFAULT_CHAIN_ID = 31337


def signed_transfer(private_key: bytes, nonce: int, to: str, tip: int, gas: int = 21_000, value: int = 0,
                    max_fee: int | None = None, chain_id: int = DEFAULT_CHAIN_ID, data: bytes = b"") -> str:
    """A signed EIP-1559 (type 0x02) transaction as 0x-hex, ready for ``txs``."""
    raw = transactions.sign(private_key, transactions.DYNAMIC_FEE, chain_id=chain_id, nonce=nonce, gas_limit=gas,
                            to=to, value=value, data=data, max_priority_fee=tip,
                            max_fee=tip if max_fee is None else max_fee)
    return "0x" + raw.hex()


def _sse_data(lines: Iterable[str]) -> Iterator[dict]:
    """The JSON ``data:`` payload of each server-sent event."""
    data: list[str] = []
    for line in lines:
        if line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            yield json.loads("\n".join(data))
            data = []
    if data:
        yield json.loads("\n".join(data))


class _Calls:
    """Request bodies and result handling shared by the sync and async clients."""

    def __init__(self, signer: Signer | None):
        self.signer = signer
        self._ids = itertools.count(1)

    def _request(self, method: str, params: list) -> tuple[bytes, dict[str, str]]:
        body = json.dumps({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params},
                          separators=(",", ":")).encode()
        headers = self.signer.headers(body) if self.signer else {"Content-Type": "application/json"}
        return body, headers

    @staticmethod
    def _result(response: httpx.Response) -> Any:
        doc = response.json()
        if "error" in doc:
            raise RpcError(doc["error"]["code"], doc["error"]["message"])
        return doc["result"]

    @staticmethod
    def bundle_params(txs: list[str], block_number: int, replacement_uuid: str | None = None,
                      reverting_tx_hashes: list[str] | None = None, min_timestamp: int = 0,
                      max_timestamp: int = 0) -> list[dict]:
        params: dict[str, Any] = {"txs": txs, "blockNumber": hex(block_number), "minTimestamp": min_timestamp,
                                  "maxTimestamp": max_timestamp, "revertingTxHashes": reverting_tx_hashes or []}
        if replacement_uuid:
            params["replacementUuid"] = replacement_uuid
        return [params]

    @staticmethod
    def stamp() -> float:
        """The signed ``timestamp`` of a state-changing request: now, in unix seconds (ms precision)."""
        return round(time.time(), 3)

    @classmethod
    def cancel_params(cls, replacement_uuid: str) -> list[dict]:
        return [{"replacementUuid": replacement_uuid, "timestamp": cls.stamp()}]

    @classmethod
    def order_params(cls, order: dict, block_number: int | None, replacement_uuid: str | None) -> list[dict]:
        params: dict[str, Any] = {"order": order, "timestamp": cls.stamp()}
        if block_number is not None:
            params["blockNumber"] = hex(block_number)
        if replacement_uuid:
            params["replacementUuid"] = replacement_uuid
        return [params]

    @classmethod
    def builder_params(cls, block_number: int, algorithm: str | None, block: list[str] | None,
                       bid: int | str) -> list[dict]:
        params: dict[str, Any] = {"blockNumber": hex(block_number), "bid": bid, "timestamp": cls.stamp()}
        params["algorithm" if algorithm is not None else "block"] = algorithm if algorithm is not None else block
        return [params]

    @classmethod
    def algorithm_params(cls, runtime: str, code: bytes | str, version: int) -> list[dict]:
        """``mev_submitAlgorithm`` params: Python source as text, anything else as base64."""
        params: dict[str, Any] = {"runtime": runtime, "version": version, "timestamp": cls.stamp()}
        if isinstance(code, str):
            params["code"] = code
        else:
            params["codeBase64"] = base64.b64encode(code).decode()
        return [params]

    @staticmethod
    def status_params(order_id: str | None, bundle_hash: str | None, block_number: int | None) -> list[dict]:
        if (order_id is None) == (bundle_hash is None):
            raise ValueError("give exactly one of order_id or bundle_hash")
        params: dict[str, Any] = {"orderId": order_id} if order_id is not None else {"bundleHash": bundle_hash}
        if block_number is not None:
            params["blockNumber"] = hex(block_number)
        return [params]

    def sealed_builder_params(self, committee: dict, block_number: int, amount: int, algorithm: str | None,
                              block: list[str] | None, pinned: list[str] | None) -> list[dict]:
        """``mev_sendBuilderBid`` params with the bid sealed here, on the builder's side: the
        service receives the signed header and one envelope per committee server, never the
        amount (``mevauction.privacy.builder_auction.seal_builder_bid``, or for a service on
        the two-party backend ``privacy.twoparty.relay.seal_pair_builder_bid``; needs the mpc extra)."""
        from mevauction.privacy.builder_auction import seal_builder_bid
        from mevauction.privacy.twoparty.relay import seal_pair_builder_bid

        if self.signer is None:
            raise ValueError("a sealed bid is signed by the builder: give the client a Signer")
        seal = seal_pair_builder_bid if committee.get("backend") == "2pc" else seal_builder_bid
        params: dict[str, Any] = {"blockNumber": hex(block_number), "timestamp": self.stamp(),
                                  "sealedBid": seal(committee, self.signer.private_key, amount, pinned)}
        params["algorithm" if algorithm is not None else "block"] = algorithm if algorithm is not None else block
        return [params]


class Client(_Calls):
    """Blocking client; use as a context manager or call :meth:`close`."""

    def __init__(self, url: str, signer: Signer | None = None, timeout: float = 10.0):
        super().__init__(signer)
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, params: list) -> Any:
        body, headers = self._request(method, params)
        return self._result(self.http.post("/", content=body, headers=headers))

    def slot(self) -> dict:
        info = self.call("mev_slot", [])
        return {**info, "slot": fields.quantity(info["slot"], "slot")}

    def chain_id(self) -> int:
        """The chain id the service's transactions must be signed for."""
        return fields.quantity(self.call("eth_chainId", []), "chainId")

    def send_bundle(self, txs: list[str], block_number: int, **options: Any) -> str:
        return self.call("eth_sendBundle", self.bundle_params(txs, block_number, **options))["bundleHash"]

    def cancel_bundle(self, replacement_uuid: str) -> list[str]:
        return self.call("eth_cancelBundle", self.cancel_params(replacement_uuid))

    def send_order(self, order: dict, block_number: int | None = None, replacement_uuid: str | None = None) -> str:
        return self.call("mev_sendOrder", self.order_params(order, block_number, replacement_uuid))["orderId"]

    def send_builder_bid(self, block_number: int, bid: int | str = "truthful", algorithm: str | None = None,
                         block: list[str] | None = None) -> dict:
        return self.call("mev_sendBuilderBid", self.builder_params(block_number, algorithm, block, bid))

    def submit_algorithm(self, runtime: str, code: bytes | str, version: int) -> dict:
        """``mev_submitAlgorithm``: a new version of this builder's algorithm; runs from ``fromSlot``."""
        return self.call("mev_submitAlgorithm", self.algorithm_params(runtime, code, version))

    def committee(self, block_number: int) -> dict:
        """``mev_getCommittee``: the slot's sealed-auction id and the committee servers' keys."""
        return self.call("mev_getCommittee", [hex(block_number)])

    def send_sealed_builder_bid(self, block_number: int, amount: int, algorithm: str | None = None,
                                block: list[str] | None = None, pinned_keys: list[str] | None = None) -> dict:
        """Seal ``amount`` for the slot's committee and send it (``serve --sealed``).

        ``pinned_keys``: the committee keys this builder trusts (from the committee's
        operators); the bid is refused here if the service names others.
        """
        committee = self.committee(block_number)
        return self.call("mev_sendBuilderBid", self.sealed_builder_params(committee, block_number, amount, algorithm,
                                                                          block, pinned_keys))

    def order_status(self, order_id: str | None = None, bundle_hash: str | None = None,
                     block_number: int | None = None) -> dict:
        """One of this signer's orders (signed ``mev_getOrderStatus``): contents, status,
        payment and refund; the newest with that id unless ``block_number`` is given."""
        return self.call("mev_getOrderStatus", self.status_params(order_id, bundle_hash, block_number))

    def bundle_stats(self, bundle_hash: str, block_number: int) -> dict:
        """Signed ``flashbots_getBundleStatsV2`` for one of this signer's bundles."""
        return self.call("flashbots_getBundleStatsV2", [{"bundleHash": bundle_hash, "blockNumber": hex(block_number)}])

    def send_preconf_bid(self, signed_bid: dict) -> dict:
        """Send a signed preconfirmation bid (mev-commit fields + ``signature``); its record:
        ``{bidDigest, bidder, blockNumber, status, messages}`` with what is decided so far."""
        return self.call("preconf_sendBid", [signed_bid])

    def stream_preconf_bid(self, signed_bid: dict) -> Iterator[dict]:
        """Send a signed bid and yield, as server-sent events arrive, first its record, then
        each commitment or reject the provider signs for it, until it is decided."""
        body, headers = self._request("preconf_sendBid", [signed_bid])
        headers = {**headers, "Accept": "text/event-stream"}
        with self.http.stream("POST", "/", content=body, headers=headers, timeout=None) as response:
            if not response.headers.get("content-type", "").startswith("text/event-stream"):
                response.read()
                yield self._result(response)
                return
            for data in _sse_data(response.iter_lines()):
                if "error" in data:
                    raise RpcError(data["error"]["code"], data["error"]["message"])
                yield data["result"] if "result" in data else data["params"]["result"]

    def preconf_bid(self, bid_digest: str, wait_ms: int = 0) -> dict:
        """A bid's record; with ``wait_ms``, a long poll that returns once it is decided."""
        return self.call("preconf_getBid", [bid_digest, wait_ms] if wait_ms else [bid_digest])

    def _get(self, path: str, **query: Any) -> Any:
        response = self.http.get(path, params={k: v for k, v in query.items() if v is not None})
        if response.status_code >= 400:
            raise RpcError(response.status_code, response.json().get("message", response.text))
        return response.json()

    def report(self, slot: int) -> dict:
        return self._get(f"/v1/slots/{slot}")

    def order(self, order_id: str, slot: int | None = None) -> dict:
        """An order a settled block included (public); pending and excluded orders are read
        by their signer with :meth:`order_status`."""
        return self._get(f"/v1/orders/{order_id}", slot=slot)

    def history(self, limit: int = 50) -> list[dict]:
        return self._get("/v1/slots", limit=limit)

    def payload_delivered(self, **filters: Any) -> list[dict]:
        return self._get("/relay/v1/data/bidtraces/proposer_payload_delivered", **filters)

    def builder_blocks_received(self, **filters: Any) -> list[dict]:
        return self._get("/relay/v1/data/bidtraces/builder_blocks_received", **filters)

    def wait_report(self, slot: int, timeout: float = 60.0, poll: float = 0.1) -> dict:
        """Block until ``slot`` has settled; its report."""
        give_up = time.monotonic() + timeout
        while True:
            try:
                return self.report(slot)
            except RpcError as exc:
                if exc.code != 404 or time.monotonic() > give_up:
                    raise
            time.sleep(poll)


class AsyncClient(_Calls):
    """The asyncio twin of :class:`Client` (the demo's load generator uses it)."""

    def __init__(self, url: str, signer: Signer | None = None, timeout: float = 10.0,
                 http: httpx.AsyncClient | None = None):
        super().__init__(signer)
        self.url = url.rstrip("/")
        self.http = http or httpx.AsyncClient(base_url=self.url, timeout=timeout)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def call(self, method: str, params: list) -> Any:
        body, headers = self._request(method, params)
        return self._result(await self.http.post(self.url + "/", content=body, headers=headers))

    async def slot(self) -> dict:
        info = await self.call("mev_slot", [])
        return {**info, "slot": fields.quantity(info["slot"], "slot")}

    async def send_bundle(self, txs: list[str], block_number: int, **options: Any) -> str:
        return (await self.call("eth_sendBundle", self.bundle_params(txs, block_number, **options)))["bundleHash"]

    async def cancel_bundle(self, replacement_uuid: str) -> list[str]:
        return await self.call("eth_cancelBundle", self.cancel_params(replacement_uuid))

    async def send_order(self, order: dict, block_number: int | None = None,
                         replacement_uuid: str | None = None) -> str:
        return (await self.call("mev_sendOrder", self.order_params(order, block_number, replacement_uuid)))["orderId"]

    async def send_builder_bid(self, block_number: int, bid: int | str = "truthful", algorithm: str | None = None,
                               block: list[str] | None = None) -> dict:
        return await self.call("mev_sendBuilderBid", self.builder_params(block_number, algorithm, block, bid))

    async def send_sealed_builder_bid(self, block_number: int, amount: int, algorithm: str | None = None,
                                      block: list[str] | None = None, pinned_keys: list[str] | None = None) -> dict:
        committee = await self.call("mev_getCommittee", [hex(block_number)])
        return await self.call("mev_sendBuilderBid", self.sealed_builder_params(
            committee, block_number, amount, algorithm, block, pinned_keys))

    async def order_status(self, order_id: str | None = None, bundle_hash: str | None = None,
                           block_number: int | None = None) -> dict:
        return await self.call("mev_getOrderStatus", self.status_params(order_id, bundle_hash, block_number))

    async def bundle_stats(self, bundle_hash: str, block_number: int) -> dict:
        return await self.call("flashbots_getBundleStatsV2",
                               [{"bundleHash": bundle_hash, "blockNumber": hex(block_number)}])

    async def report(self, slot: int) -> dict | None:
        response = await self.http.get(f"{self.url}/v1/slots/{slot}")
        return response.json() if response.status_code == 200 else None
