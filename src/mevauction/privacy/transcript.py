"""The verifiable record of one sealed auction, and its offline check.

A transcript (``mevauction.transcript/1``) holds the signed bid headers (the
commitments published before the deadline), the bids refused at intake with reasons,
every server's signed statement (outcome, admitted bids, exclusions), and the openings
the winners publish afterwards (values, salt, their shares and nonces).

``verify`` checks, without any secret: every header signature; every server statement
signature, that the m servers are distinct and signed the same outcome; that admitted
bids are published headers and the winners are admitted; and for each opening, the
commitment, each share against its signed hash, that the shares lie on one degree-t
polynomial and reconstruct the opened bid (bit by bit for single bids), and the price
rule (first price: price = the winner's bid; second/builder/top-k: price ≤ each
winner's bid). It cannot prove that the committee compared correctly — that rests on
an honest majority of servers.
"""

from __future__ import annotations

import json
from typing import Any

from mevauction.eth import fields
from mevauction.privacy import messages
from mevauction.privacy.client import RunResult
from mevauction.privacy.field import DEFAULT_BITS, WIDTHS, consistent, interpolate, modulus_for

FORMAT = "mevauction.transcript/1"


def build(result: RunResult, threshold: int) -> dict[str, Any]:
    bits = result.spec.get("bits", DEFAULT_BITS)
    return {"format": FORMAT, "auction": result.auction, "mechanism": result.mechanism,
            "parties": result.parties, "threshold": threshold, "bits": bits, "modulus": str(modulus_for(bits)),
            "k": result.spec.get("k", 1), "grid": result.spec.get("grid", []),
            "outcome": result.outcome, "status": "ok" if result.ok else "aborted", "reason": result.reason,
            "headers": result.headers, "rejected": result.rejected,
            "statements": result.statements, "openings": result.openings, "committee": result.committee}


def _signer_problems(doc: dict[str, Any], pinned: dict[str, Any] | None) -> list[str]:
    """Each statement signed by its own server's published key, the key set the pinned one."""
    committee = doc.get("committee") or {}
    members = committee.get("members") if isinstance(committee, dict) else None
    if not isinstance(members, list) or len(members) != int(doc.get("parties", 0)):
        return ["the transcript names no committee key set"]
    problems = []
    if pinned is None:
        problems.append("the committee's keys are not pinned (pass its published key set): "
                        "a transcript re-signed with other keys would look the same")
    elif [str(m.get("signer", "")).lower() for m in pinned.get("members", [])] != [
            str(m.get("signer", "")).lower() for m in members]:
        problems.append("the servers' signing keys are not the pinned committee's")
    for j, st in enumerate(doc.get("statements", [])):
        index = st.get("server")
        if not isinstance(index, int) or not 0 <= index < len(members):
            problems.append(f"statements[{j}]: no server index")
        elif str(st.get("signer", "")).lower() != str(members[index].get("signer", "")).lower():
            problems.append(f"statements[{j}]: not signed by server {index}'s published key")
    return problems


def verify(doc: object, committee: dict[str, Any] | None = None) -> list[str]:
    """Problems found in a transcript; an empty list means it checks out.

    ``committee``: the committee's published key set (``mevauction.committee/1``) the
    statements must be signed with; without it the check fails (nothing pins the keys).
    An aborted auction never checks out: it has no outcome to vouch for.
    """
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return [f"not a {FORMAT} document"]
    auction = doc.get("auction")
    if not isinstance(auction, str):
        return ["the transcript names no auction"]
    if doc.get("backend") in ("2pc", "tfhe"):
        return _verify_pair(doc, committee)
    problems: list[str] = []
    m, t = int(doc.get("parties", 0)), int(doc.get("threshold", 0))
    bits = doc.get("bits", DEFAULT_BITS)
    if bits not in WIDTHS:
        return [f"unsupported bid width {bits!r}"]
    p = modulus_for(bits)
    if int(doc.get("modulus", 0)) != p:
        problems.append(f"field modulus differs from the committee's for {bits}-bit bids")
    headers = {}
    for i, h in enumerate(doc.get("headers", [])):
        header = messages.BidHeader.from_json(h, f"headers[{i}]")
        if header.auction != auction:
            problems.append(f"headers[{i}]: belongs to auction {header.auction}")
        if not header.signature_valid():
            problems.append(f"headers[{i}]: signature does not match signer {header.signer}")
        headers["0x" + header.digest().hex()] = header
    if doc.get("status") != "ok":
        problems.append(f"the auction was aborted ({doc.get('reason') or 'no reason given'}): no outcome")
        if doc.get("outcome"):
            problems.append("an aborted auction must not publish an outcome")
        return problems
    problems += _signer_problems(doc, committee)
    statements = doc.get("statements", [])
    if len(statements) != m:
        problems.append(f"expected {m} server statements, found {len(statements)}")
    signers = set()
    for j, s in enumerate(statements):
        if messages.recover(messages.statement_digest(s), s.get("signature", "")) != str(s.get("signer", "")).lower():
            problems.append(f"statements[{j}]: bad signature")
        if s.get("status") != "ok":
            problems.append(f"statements[{j}]: status {s.get('status')}")
        if s.get("auction") != auction:
            problems.append(f"statements[{j}]: different auction")
        signers.add(s.get("signer"))
    if len(signers) != len(statements):
        problems.append("statements are not from distinct servers")
    views = {json.dumps([s.get("outcome"), s.get("admitted"), s.get("excluded")], sort_keys=True) for s in statements}
    if len(views) > 1:
        problems.append("servers signed different outcomes")
    if problems or not statements:
        return problems
    outcome, admitted = statements[0]["outcome"], statements[0]["admitted"]
    if outcome != doc.get("outcome"):
        problems.append("the transcript's outcome is not the one the servers signed")
    unknown = [d for d in admitted if d not in headers]
    if unknown:
        problems.append(f"{len(unknown)} admitted bid(s) have no published header")
    admitted_bidders = {headers[d].bidder for d in admitted if d in headers}
    for w in outcome.get("winners", []):
        if w not in admitted_bidders:
            problems.append(f"winner {w} is not an admitted bidder")
    opened = {o.get("bidder"): o for o in doc.get("openings", [])}
    if doc.get("mechanism") == "double":  # traders keep their curves: nothing to open
        return problems
    for w in outcome.get("winners", []):
        if w not in opened:
            problems.append(f"winner {w} has not opened its commitment")
            continue
        problems += _check_opening(opened[w], auction, (m, t, bits), outcome, doc.get("mechanism"),
                                   {headers[d].bidder: headers[d] for d in admitted if d in headers})
    return problems


def build_pair(auction: str, mechanism: str, bidders: list[str], status: str, reason: str,
               outcome: dict[str, Any] | None, statements: list[dict[str, Any]],
               key_set: dict[str, Any] | None, backend: str = "2pc") -> dict[str, Any]:
    """A two-party run's transcript (2PC pair or TFHE pair): both parties' signed statements
    and the outcome with labels."""
    return {"format": FORMAT, "backend": backend, "auction": auction, "mechanism": mechanism, "parties": 2,
            "bidders": bidders, "status": status, "reason": reason, "outcome": outcome,
            "statements": statements, "committee": key_set}


def _verify_pair(doc: dict[str, Any], pinned: dict[str, Any] | None) -> list[str]:
    """Both parties signed the same outcome of this auction over these bidders, with the
    pinned keys. It rests on the pair being semi-honest: it cannot show the circuit was right."""
    if doc.get("status") != "ok":
        problems = [f"the auction was aborted ({doc.get('reason') or 'no reason given'}): no outcome"]
        return problems + (["an aborted auction must not publish an outcome"] if doc.get("outcome") else [])
    problems = _signer_problems({**doc, "parties": 2}, pinned)
    statements = doc.get("statements") or []
    if len(statements) != 2:
        return [*problems, f"expected 2 party statements, found {len(statements)}"]
    for j, st in enumerate(statements):
        signer = messages.recover(messages.statement_digest(st), st.get("signature", ""))
        if signer != str(st.get("signer", "")).lower():
            problems.append(f"statements[{j}]: bad signature")
        if st.get("server") != j or st.get("status") != "ok" or st.get("auction") != doc.get("auction"):
            problems.append(f"statements[{j}]: not party {j}'s ok statement for auction {doc.get('auction')}")
    fields_ = ("outcome", "bidders", "mechanism", "n", "k", "sides", "grid", "bids_digest")
    signed = {json.dumps([st.get(k) for k in fields_], sort_keys=True) for st in statements}
    if len(signed) > 1:
        problems.append("the two parties signed different outcomes")
    if problems:
        return problems
    if doc.get("backend") == "tfhe":  # the signed outcome is the published one: price and quantities, decimal
        st = statements[0]
        if st.get("backend") != "tfhe" or st.get("mechanism") != "double" or st.get("bidders") != doc.get("bidders"):
            problems.append("the transcript's bidders or mechanism are not the ones the parties signed")
        if st.get("outcome") != doc.get("outcome"):
            problems.append("the transcript's outcome is not the one the parties signed")
        return problems
    st, bidders, outcome = statements[0], statements[0]["bidders"], doc.get("outcome") or {}
    if bidders != doc.get("bidders") or st["mechanism"] != doc.get("mechanism"):
        problems.append("the transcript's bidders or mechanism are not the ones the parties signed")

    def named(i: object) -> str | None:
        return bidders[i] if isinstance(i, int) and 0 <= i < len(bidders) else None

    signed_out = st["outcome"]
    winners = [named(i) for i in signed_out.get("winners") or ([] if signed_out.get("winner") is None
                                                               else [signed_out["winner"]])]
    if (outcome.get("winner") != named(signed_out.get("winner")) or outcome.get("price") != signed_out.get("price")
            or sorted(outcome.get("winners") or []) != sorted(w for w in winners if w is not None)):
        problems.append("the transcript's outcome is not the one the parties signed")
    signed_q = {named(int(i)) if str(i).isdigit() else None: q for i, q in (signed_out.get("quantities") or {}).items()}
    if (outcome.get("quantities") or {}) != signed_q:  # double: the traders' quantities at the price
        problems.append("the transcript's quantities are not the ones the parties signed")
    return problems


def _check_opening(o: dict[str, Any], auction: str, committee: tuple[int, int, int], outcome: dict[str, Any],
                   mechanism: str | None, by_bidder: dict[str, messages.BidHeader]) -> list[str]:
    m, t, bits = committee
    p = modulus_for(bits)
    who = o.get("bidder")
    if not isinstance(who, str) or who not in by_bidder:
        return [f"opening of {who}: no admitted header"]
    header = by_bidder[who]
    values = [int(v) for v in o.get("values", [])]
    salt = bytes.fromhex(str(o.get("salt", "")).removeprefix("0x"))
    problems = []
    if messages.commitment(auction, who, values, salt) != header.commitment:
        problems.append(f"opening of {who}: does not match its commitment")
    shares = [[fields.uint(s, f"opening of {who}.shares") for s in per] for per in o.get("shares", [])]
    nonces = [fields.data(n, f"opening of {who}.nonces") for n in o.get("nonces", [])]
    if len(shares) != m or len(nonces) != m:
        return [*problems, f"opening of {who}: expected {m} shares"]
    for j in range(m):
        if messages.share_hash(auction, who, j, shares[j], nonces[j]) != header.share_hashes[j]:
            problems.append(f"opening of {who}: share {j} does not match its signed hash")
    secrets = []
    bit_shared = mechanism != "double"
    for v in range(len(shares[0])):
        column = [shares[j][v] for j in range(m)]
        zero_mask = bit_shared and v == len(shares[0]) - 1  # the bidder's degree-2t zero sharing
        degree = 2 * t if zero_mask else t
        if not consistent(column, degree, p) or (zero_mask and interpolate(list(enumerate(column, 1)), p=p)):
            problems.append(f"opening of {who}: shares of value {v} are inconsistent")
        secrets.append(interpolate(list(enumerate(column, 1))[: t + 1], p=p))
    if bit_shared:  # a bid shared as its bits, then the two check masks (field.bit_checks)
        secrets = secrets[:-2]
        if (len(secrets) != bits or any(b not in (0, 1) for b in secrets)
                or values[:1] != [sum(b << j for j, b in enumerate(secrets))]):
            problems.append(f"opening of {who}: shares do not reconstruct the opened bid bit by bit")
    elif secrets != [v % p for v in values]:
        problems.append(f"opening of {who}: shares do not reconstruct the opened values")
    price = outcome.get("price")
    if not isinstance(price, int):  # an opening is checked only for a winner, and a winner pays a price
        return [*problems, f"the outcome's price {price!r} is not an integer"]
    if mechanism in ("first", "replay", "stream") and values[:1] != [price]:
        problems.append(f"first price {price} is not the winner's opened bid")
    if mechanism in ("second", "builder", "topk") and (not values or values[0] < price):
        problems.append(f"price {price} exceeds winner {who}'s opened bid")
    return problems
