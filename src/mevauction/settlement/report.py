"""The report document (``mevauction.report/1``, docs/spec/auction-cli.md § 3).

The mechanism's :class:`~mevauction.mechanism.boost.Report` is the outcome of one
slot; :class:`ReportDocument` is what leaves the process: the outcome's public
fields plus the transfers that carry it out (:mod:`mevauction.settlement.ledger`).
``to_json`` gives the document the CLI writes and the service stores (keys in the
order below; amounts are integers in wei). ``from_json`` reads one back and checks
it, so a consumer walks typed fields instead of a dict: a wrong type, a missing
field, a winner that is not a valid builder, or transfers that do not follow from
the amounts (or leave the mechanism with a balance) is an ``InputError`` naming
the field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mevauction.errors import InputError, require
from mevauction.mechanism.boost import (
    BuilderSettlement,
    Report,
    SearcherSettlement,
    case_of,
)
from mevauction.mechanism.builders import Candidate
from mevauction.settlement.ledger import (
    SettlementError,
    Transfer,
    check,
    settle,
    transfers,
)

REPORT_FORMAT = "mevauction.report/1"
FIELDS = ("format", "conflict_free", "default", "builders", "winner", "case", "price", "block",
          "searchers", "builder_settlement", "proposer", "groups", "transfers")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DefaultBlock:
    """o*: the default algorithm's block over M \\ S and its value β0."""

    block: tuple[str, ...]
    value: int


@dataclass(frozen=True, slots=True)
class BuilderEntry:
    """Builder j's candidate B_j: its bid β_j and block value, or why it was rejected."""

    id: str
    valid: bool
    block: tuple[str, ...]
    bid: int
    value: int
    reason: str | None = None

    @classmethod
    def of(cls, candidate: Candidate) -> BuilderEntry:
        return cls(candidate.id, candidate.valid, tuple(candidate.block.orders), candidate.bid,
                   candidate.block.value, candidate.reason or None)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "valid": self.valid, "block": list(self.block),
                               "bid": self.bid, "value": self.value}
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True, slots=True)
class ReportDocument:
    """One slot's ``mevauction.report/1`` document."""

    conflict_free: tuple[str, ...]
    default: DefaultBlock
    builders: tuple[BuilderEntry, ...]
    winner: str  # "default" or a builder id
    price: int  # max(β0, β′) in case 4b, β0 in case 4a
    block: tuple[str, ...]  # the final block: B* or o*, then the included conflict-free orders
    searchers: Mapping[str, SearcherSettlement]  # every order of the slot
    builder_settlement: Mapping[str, BuilderSettlement]  # every builder
    proposer: int
    groups: tuple[tuple[str, ...], ...]  # the conflict groups of two or more orders
    transfers: tuple[Transfer, ...]
    # Preconfirmation commitments and how the final block treats each (only when the
    # slot carries some: mechanism/commitments.py); orders they excluded, with why.
    commitments: tuple[dict[str, Any], ...] = ()
    excluded: Mapping[str, str] = field(default_factory=dict)

    @property
    def case(self) -> str:
        return case_of(self.winner)

    @property
    def beta0(self) -> int:
        return self.default.value

    @classmethod
    def of(cls, report: Report) -> ReportDocument:
        """The document of the mechanism's outcome, with its checked transfers."""
        return cls(
            conflict_free=tuple(report.conflict_free),
            default=DefaultBlock(tuple(report.default.block.orders), report.default.value),
            builders=tuple(BuilderEntry.of(c) for c in report.builders),
            winner=report.winner,
            price=report.price,
            block=tuple(report.block),
            searchers=dict(report.searchers),
            builder_settlement=dict(report.builder_settlement),
            proposer=report.proposer,
            groups=tuple(tuple(g) for g in report.groups),
            transfers=tuple(settle(report)),
            commitments=tuple(c.to_json() for c in report.commitments),
            excluded=dict(report.excluded),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "conflict_free": list(self.conflict_free),
            "default": {"block": list(self.default.block), "value": self.default.value},
            "builders": [b.to_json() for b in self.builders],
            "winner": self.winner,
            "case": self.case,
            "price": self.price,
            "block": list(self.block),
            "searchers": {i: {"bid": s.bid, "refund": s.refund} for i, s in self.searchers.items()},
            "builder_settlement": {j: {"paid": s.paid, "refund": s.refund}
                                   for j, s in self.builder_settlement.items()},
            "proposer": self.proposer,
            "groups": [list(g) for g in self.groups],
            "transfers": [{"from": t.payer, "to": t.payee, "amount": t.amount, "reason": t.reason}
                          for t in self.transfers],
            **({"commitments": list(self.commitments), "excluded": dict(self.excluded)}
               if self.commitments or self.excluded else {}),
        }

    @classmethod
    def from_json(cls, doc: Any) -> ReportDocument:
        """Read and check a document written by :meth:`to_json`."""
        require(isinstance(doc, dict), "report", "must be a JSON object")
        require(doc.get("format") == REPORT_FORMAT, "format", f"expected {REPORT_FORMAT!r}, got {doc.get('format')!r}")
        for name in FIELDS:
            require(name in doc, name, "missing")
        _no_unknown(doc, (*FIELDS, "commitments", "excluded"), "")
        default = _object(doc["default"], "default", ("block", "value"))
        parsed = cls(
            conflict_free=_ids(doc["conflict_free"], "conflict_free"),
            default=DefaultBlock(_ids(default["block"], "default.block"), _wei(default["value"], "default.value")),
            builders=tuple(_builder(b, f"builders[{k}]") for k, b in enumerate(_list(doc["builders"], "builders"))),
            winner=_string(doc["winner"], "winner"),
            price=_wei(doc["price"], "price"),
            block=_ids(doc["block"], "block"),
            searchers=_entries(doc["searchers"], "searchers", _searcher),
            builder_settlement=_entries(doc["builder_settlement"], "builder_settlement", _builder_settlement),
            proposer=_wei(doc["proposer"], "proposer"),
            groups=tuple(_ids(g, f"groups[{k}]") for k, g in enumerate(_list(doc["groups"], "groups"))),
            transfers=tuple(
                _transfer(t, f"transfers[{k}]") for k, t in enumerate(_list(doc["transfers"], "transfers"))
            ),
            commitments=tuple(_list(doc.get("commitments", []), "commitments")),
            excluded=dict(doc.get("excluded", {})),
        )
        require(doc["case"] == parsed.case, "case", f"must be {parsed.case!r} for winner {parsed.winner!r}")
        parsed.check_consistent()
        return parsed

    def check_consistent(self) -> None:
        """The cross-field rules of a report: who may win, who is settled, and the money."""
        valid = {b.id for b in self.builders if b.valid}
        require(self.winner == "default" or self.winner in valid, "winner",
                f"{self.winner!r} is neither 'default' nor a valid builder")
        require([b.id for b in self.builders] == list(self.builder_settlement), "builder_settlement",
                "must have one entry per builder, in the builders' order")
        for field_name, ids in (("block", self.block), ("conflict_free", self.conflict_free)):
            for k, oid in enumerate(ids):
                require(oid in self.searchers, f"{field_name}[{k}]", f"order {oid!r} has no searchers entry")
        try:
            check(list(self.transfers))
        except SettlementError as exc:
            raise InputError("transfers", str(exc)) from None
        require(list(self.transfers) == transfers(self), "transfers",
                "do not match the searchers', builders' and proposer's amounts")


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise InputError(where, "must be a list")
    return value


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or value == "":
        raise InputError(where, "must be a non-empty string")
    return value


def _wei(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InputError(where, "must be an integer amount in wei")
    require(value >= 0, where, f"must be non-negative, got {value}")
    return value


def _ids(value: Any, where: str) -> tuple[str, ...]:
    return tuple(_string(x, f"{where}[{k}]") for k, x in enumerate(_list(value, where)))


def _object(value: Any, where: str, keys: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(where, "must be an object")
    for key in keys:
        require(key in value, f"{where}.{key}", "missing")
    _no_unknown(value, keys + optional, where + ".")
    return value


def _no_unknown(obj: dict[str, Any], known: tuple[str, ...], prefix: str) -> None:
    for key in obj:
        require(key in known, prefix + key, "unknown field")


def _entries(value: Any, where: str, parse: Callable[[Any, str], T]) -> dict[str, T]:
    require(isinstance(value, dict), where, "must be an object")
    return {key: parse(entry, f"{where}.{key}") for key, entry in value.items()}


def _searcher(value: Any, where: str) -> SearcherSettlement:
    obj = _object(value, where, ("bid", "refund"))
    return SearcherSettlement(_wei(obj["bid"], f"{where}.bid"), _wei(obj["refund"], f"{where}.refund"))


def _builder_settlement(value: Any, where: str) -> BuilderSettlement:
    obj = _object(value, where, ("paid", "refund"))
    return BuilderSettlement(_wei(obj["paid"], f"{where}.paid"), _wei(obj["refund"], f"{where}.refund"))


def _builder(value: Any, where: str) -> BuilderEntry:
    obj = _object(value, where, ("id", "valid", "block", "bid", "value"), optional=("reason",))
    valid = obj["valid"]
    require(isinstance(valid, bool), f"{where}.valid", "must be true or false")
    reason = obj.get("reason")
    if reason is not None:
        reason = _string(reason, f"{where}.reason")
    require(valid or reason is not None, f"{where}.reason", "an invalid builder needs a reason")
    return BuilderEntry(_string(obj["id"], f"{where}.id"), valid, _ids(obj["block"], f"{where}.block"),
                        _wei(obj["bid"], f"{where}.bid"), _wei(obj["value"], f"{where}.value"), reason)


def _transfer(value: Any, where: str) -> Transfer:
    obj = _object(value, where, ("from", "to", "amount", "reason"))
    return Transfer(_string(obj["from"], f"{where}.from"), _string(obj["to"], f"{where}.to"),
                    _wei(obj["amount"], f"{where}.amount"), _string(obj["reason"], f"{where}.reason"))
