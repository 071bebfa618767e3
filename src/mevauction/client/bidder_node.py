"""A bidder node with mev-commit's bidder HTTP API, sending to mevauction's provider.

mev-commit bidders do not sign bids themselves: their tooling posts an unsigned bid to
their own bidder node (``POST /v1/bidder/bid``, grpc-gateway over ``Bidder.SendBid`` in
``p2p/rpc/bidderapi/v1/bidderapi.proto``), which holds the keys, signs the bid and
streams back the providers' commitments. This node does the same against a mevauction
service, so that tooling works unchanged:

- request body: the proto's JSON names — ``txHashes`` or ``rawTransactions`` (exactly
  one), ``amount``, ``blockNumber``, ``decayStartTimestamp``, ``decayEndTimestamp``,
  ``revertingTxHashes``, ``slashAmount`` (empty: the amount, as mev-commit does),
  ``bidOptions`` (protobuf JSON); checked with the proto's validation rules;
- the bid is built as mev-commit's node builds it (``0x`` stripped from hashes, joined by
  ","; raw transactions hashed; ``bidOptions`` marshalled), keyed with the node's BN254
  key, signed with its secp256k1 key, and sent to the service (``preconf_sendBid``,
  server-sent events);
- response: grpc-gateway's stream shape, one JSON object per line, ``{"result":
  Commitment}`` with the proto's names (``receivedBidDigest``, ``commitmentDigest``,
  ``commitmentSignature``, ``providerAddress``, ``dispatchTimestamp``, …; int64 as
  strings, as protojson writes them). Each commitment is verified (digest recomputed,
  signer recovered) before it is passed on. mev-commit has no rejects: a signed reject
  ends the stream with ``{"error": {"code": 9, "message": "rejected: <reason>", ...}}``;
  invalid input is ``{"code": 3, "message": ...}`` with HTTP 400, as grpc-gateway answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from mevauction.errors import InputError, require
from mevauction.eth import fields, transactions
from mevauction.preconf import bidoptions
from mevauction.preconf.keys import Signer
from mevauction.preconf.messages import Bid, Commitment, SignedBid
from mevauction.preconf.nike import GENERATOR, multiply

_HASH = re.compile(r"^(0x)?[a-fA-F0-9]{64}$")
_AMOUNT = re.compile(r"^[1-9][0-9]{0,77}$")
_SLASH = re.compile(r"^[0-9]{1,78}$")
_RAW = re.compile(r"^(0x)?[a-fA-F0-9]*$")
INT64_MAX = 2**63 - 1
MAX_BODY = 1 << 20


def _int64(body: dict, name: str) -> int:
    """An int64 as protojson reads one: a JSON number or a decimal string; > 0 (the proto's rule)."""
    value = body.get(name, 0)
    if isinstance(value, str):
        value = fields.decimal(value, name, INT64_MAX) if value else 0
    number = fields.integer(value, name, INT64_MAX)
    require(number > 0, name, f"{name} must be a valid integer.")
    return number


def _strings(body: dict, name: str, pattern: re.Pattern, limit: int = 64) -> list[str]:
    value = body.get(name, [])
    require(isinstance(value, list) and len(value) <= limit and all(isinstance(v, str) for v in value), name,
            f"must be a list of at most {limit} strings")
    for v in value:
        require(bool(pattern.match(v)), name, f"{name} must be a valid array of "
                                              f"{'transaction hashes' if pattern is _HASH else 'raw transactions'}.")
    return value


def bid_from_request(body: object, public_key: tuple[int, int]) -> tuple[Bid, list[str]]:
    """mev-commit's ``SendBid``: validate the request, build the bid it signs (and the raw
    transactions it forwards)."""
    require(isinstance(body, dict), "body", "must be a JSON object (bidderapi.v1.Bid)")
    assert isinstance(body, dict)
    tx_hashes = _strings(body, "txHashes", _HASH)
    raws = _strings(body, "rawTransactions", _RAW)
    require(bool(tx_hashes) != bool(raws), "txHashes",
            "empty bid" if not tx_hashes else "both txHashes and rawTransactions are provided")
    amount = body.get("amount")
    require(isinstance(amount, str) and bool(_AMOUNT.match(amount)), "amount", "amount must be a valid integer.")
    slash = body.get("slashAmount", "")
    require(isinstance(slash, str) and (slash == "" or bool(_SLASH.match(slash))), "slashAmount",
            "slash_amount must be a valid integer.")
    reverting = _strings(body, "revertingTxHashes", _HASH)
    if tx_hashes:
        txn_hash = ",".join(h.removeprefix("0x") for h in tx_hashes)
    else:
        hashes = []
        for i, raw in enumerate(raws):
            tx = transactions.decode(fields.data(raw, f"rawTransactions[{i}]", prefix=False), f"rawTransactions[{i}]")
            hashes.append(tx.hash.removeprefix("0x"))
        txn_hash = ",".join(hashes)
    options = bidoptions.encode(bidoptions.from_json(body.get("bidOptions")))
    bid = Bid(txn_hash=txn_hash, bid_amt=int(str(amount)), block_number=_int64(body, "blockNumber"),
              decay_start=_int64(body, "decayStartTimestamp"), decay_end=_int64(body, "decayEndTimestamp"),
              reverting_tx_hashes=",".join(h.removeprefix("0x") for h in reverting),
              slash_amt=int(str(slash or amount)), bidder_pk_x=public_key[0], bidder_pk_y=public_key[1],
              bid_options=options)
    return bid, raws


def commitment_json(c: Commitment, options: Any) -> dict:
    """``bidderapi.v1.Commitment`` in protojson, as the bidder node streams it."""
    b = c.signed_bid.bid
    out = {"txHashes": b.txn_hash.split(","), "bidAmount": str(b.bid_amt), "blockNumber": str(b.block_number),
           "receivedBidDigest": c.signed_bid.digest.hex(), "receivedBidSignature": c.signed_bid.signature.hex(),
           "commitmentDigest": c.digest.hex(), "commitmentSignature": c.signature.hex(),
           "providerAddress": c.provider.lower().removeprefix("0x"), "decayStartTimestamp": str(b.decay_start),
           "decayEndTimestamp": str(b.decay_end), "dispatchTimestamp": str(c.dispatch_timestamp),
           "revertingTxHashes": b.reverting_tx_hashes.split(","), "slashAmount": str(b.slash_amt)}
    if options is not None:
        out["bidOptions"] = options
    return out


def _error(code: int, message: str) -> dict:
    return {"code": code, "message": message, "details": []}


class BidderNode:
    """The node's state: its keys and where the provider is."""

    def __init__(self, service_url: str, signer: Signer, nike_secret: int, chain_id: int, contract: str,
                 provider: str):
        self.service_url = service_url.rstrip("/")
        self.signer = signer
        self.public_key = multiply(GENERATOR, nike_secret)
        self.chain_id = chain_id
        self.contract = contract
        self.provider = provider.lower()

    def app(self) -> FastAPI:
        app = FastAPI(title="mevauction bidder node")

        @app.post("/v1/bidder/bid")
        async def send_bid(request: Request):
            raw = await request.body()
            try:
                require(len(raw) <= MAX_BODY, "body", f"larger than {MAX_BODY} bytes")
                body = json.loads(raw)
                bid, raws = bid_from_request(body, self.public_key)
            except (InputError, ValueError, RecursionError) as exc:
                text = exc.one_line() if isinstance(exc, InputError) else f"body: not valid JSON ({exc})"
                return JSONResponse(_error(3, f"validating bid: {text}"), status_code=400)
            signed = SignedBid.sign(bid, self.signer, self.chain_id, self.contract)
            doc = {**signed.to_json(), **({"rawTransactions": raws} if raws else {})}
            return StreamingResponse(self._stream(doc, body.get("bidOptions")), media_type="application/json")

        return app

    async def _stream(self, doc: dict, options: Any) -> AsyncIterator[bytes]:
        request = {"jsonrpc": "2.0", "id": 1, "method": "preconf_sendBid", "params": [doc]}
        async with httpx.AsyncClient(timeout=None) as http, http.stream(
                "POST", self.service_url + "/", json=request, headers={"Accept": "text/event-stream"}) as response:
            async for event in _events(response):
                line = self._translate(event, options)
                if line is not None:
                    yield (json.dumps(line, separators=(",", ":")) + "\n").encode()
                    if "error" in line:
                        return

    def _translate(self, event: dict, options: Any) -> dict | None:
        if "error" in event:  # the provider refused it unsigned: invalid input is the gateway's code 3
            code = 3 if event["error"].get("code") == -32602 else 13
            return {"error": _error(code, f"error sending bid: {event['error'].get('message', '')}")}
        result = event["result"] if "result" in event else event.get("params", {}).get("result", {})
        messages = result.get("messages", [result]) if "status" in result else [result]
        for m in messages:
            if m.get("kind") == "reject":
                return {"error": _error(9, f"rejected: {m.get('reason')}")}
            if m.get("kind") == "commitment":
                c = Commitment.from_json(m)
                if c.committer().lower() != self.provider:  # as the node's VerifyPreConfirmation
                    return {"error": _error(13, f"commitment not signed by provider {self.provider}")}
                return {"result": commitment_json(c, options)}
        return None


async def _events(response: httpx.Response) -> AsyncIterator[dict]:
    """The JSON of each server-sent event (or the plain JSON-RPC answer)."""
    if not response.headers.get("content-type", "").startswith("text/event-stream"):
        yield json.loads(await response.aread())
        return
    async for line in response.aiter_lines():
        if line.startswith("data:"):
            yield json.loads(line[5:].strip())
