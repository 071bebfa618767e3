"""mev-commit's provider decision API, re-declared: ``providerapi.v1.Provider``'s
``ReceiveBids`` / ``SendProcessedBids`` messages with their field names and numbers.

From ``p2p/rpc/providerapi/v1/providerapi.proto`` (primev/mev-commit @ 79f1e932)::

    service Provider {
      rpc ReceiveBids(EmptyMessage) returns (stream Bid);
      rpc SendProcessedBids(stream BidResponse) returns (EmptyMessage);
    }
    message Bid { repeated string tx_hashes = 1; string bid_amount = 2; int64 block_number = 3;
                  bytes bid_digest = 4; int64 decay_start_timestamp = 5; int64 decay_end_timestamp = 6;
                  repeated string reverting_tx_hashes = 7; repeated string raw_transactions = 8;
                  string slash_amount = 9; BidOptions bid_options = 10; string bidder_address = 11; }
    message BidResponse { bytes bid_digest = 1; Status status = 2; int64 dispatch_timestamp = 3;
                          enum Status { STATUS_UNSPECIFIED = 0; STATUS_ACCEPTED = 1; STATUS_REJECTED = 2; } }

(``BidOptions`` and its parts as in :mod:`mevauction.preconf.bidoptions`.) The messages
are built from a descriptor at import (protobuf's runtime, no generated code), and the
two methods are plain grpcio stream calls on ``/providerapi.v1.Provider/…``.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "providerapi.v1"
SERVICE = f"/{PACKAGE}.Provider"
RECEIVE_BIDS = f"{SERVICE}/ReceiveBids"
SEND_PROCESSED_BIDS = f"{SERVICE}/SendProcessedBids"
STATUS_ACCEPTED, STATUS_REJECTED = 1, 2

_T = descriptor_pb2.FieldDescriptorProto
_OPTIONAL, _REPEATED = _T.LABEL_OPTIONAL, _T.LABEL_REPEATED


def _file() -> descriptor_pb2.FileDescriptorProto:
    fd = descriptor_pb2.FileDescriptorProto(name="mevauction/providerapi.proto", package=PACKAGE, syntax="proto3")

    def message(name: str, *fields: tuple) -> descriptor_pb2.DescriptorProto:
        m = fd.message_type.add(name=name)
        for number, field_name, kind, label, *rest in fields:
            f = m.field.add(name=field_name, number=number, type=kind, label=label)
            if rest and rest[0]:
                f.type_name = f".{PACKAGE}.{rest[0]}"
            if len(rest) > 1:
                f.oneof_index = rest[1]
        return m

    message("EmptyMessage")
    pc = message("PositionConstraint", (1, "anchor", _T.TYPE_ENUM, _OPTIONAL, "PositionConstraint.Anchor"),
                 (2, "basis", _T.TYPE_ENUM, _OPTIONAL, "PositionConstraint.Basis"),
                 (3, "value", _T.TYPE_INT32, _OPTIONAL))
    for enum_name, names in (("Anchor", ("ANCHOR_UNSPECIFIED", "ANCHOR_TOP", "ANCHOR_BOTTOM")),
                             ("Basis", ("BASIS_UNSPECIFIED", "BASIS_PERCENTILE", "BASIS_ABSOLUTE",
                                        "BASIS_GAS_PERCENTILE"))):
        e = pc.enum_type.add(name=enum_name)
        for i, n in enumerate(names):
            e.value.add(name=n, number=i)
    message("ShutterisedBidOption", (1, "identity_prefix", _T.TYPE_STRING, _OPTIONAL),
            (2, "eon_id", _T.TYPE_INT64, _OPTIONAL), (3, "encrypted_tx", _T.TYPE_STRING, _OPTIONAL))
    bo = message("BidOption", (1, "position_constraint", _T.TYPE_MESSAGE, _OPTIONAL, "PositionConstraint", 0),
                 (2, "shutterised_bid_option", _T.TYPE_MESSAGE, _OPTIONAL, "ShutterisedBidOption", 0))
    bo.oneof_decl.add(name="opt")
    message("BidOptions", (1, "options", _T.TYPE_MESSAGE, _REPEATED, "BidOption"))
    message("Bid", (1, "tx_hashes", _T.TYPE_STRING, _REPEATED), (2, "bid_amount", _T.TYPE_STRING, _OPTIONAL),
            (3, "block_number", _T.TYPE_INT64, _OPTIONAL), (4, "bid_digest", _T.TYPE_BYTES, _OPTIONAL),
            (5, "decay_start_timestamp", _T.TYPE_INT64, _OPTIONAL),
            (6, "decay_end_timestamp", _T.TYPE_INT64, _OPTIONAL),
            (7, "reverting_tx_hashes", _T.TYPE_STRING, _REPEATED),
            (8, "raw_transactions", _T.TYPE_STRING, _REPEATED), (9, "slash_amount", _T.TYPE_STRING, _OPTIONAL),
            (10, "bid_options", _T.TYPE_MESSAGE, _OPTIONAL, "BidOptions"),
            (11, "bidder_address", _T.TYPE_STRING, _OPTIONAL))
    br = message("BidResponse", (1, "bid_digest", _T.TYPE_BYTES, _OPTIONAL),
                 (2, "status", _T.TYPE_ENUM, _OPTIONAL, "BidResponse.Status"),
                 (3, "dispatch_timestamp", _T.TYPE_INT64, _OPTIONAL))
    status = br.enum_type.add(name="Status")
    for i, n in enumerate(("STATUS_UNSPECIFIED", "STATUS_ACCEPTED", "STATUS_REJECTED")):
        status.value.add(name=n, number=i)
    return fd


_pool = descriptor_pool.DescriptorPool()
_pool.Add(_file())


def _cls(name: str):
    return message_factory.GetMessageClass(_pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))


EmptyMessage = _cls("EmptyMessage")
Bid = _cls("Bid")
BidResponse = _cls("BidResponse")
BidOptions = _cls("BidOptions")
