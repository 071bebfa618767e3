"""``mevauction committee serve`` — run one sealed-bid committee server (or all, locally).

``--index i --parties host:port,…`` runs party i of the MPyC committee whose parties
listen on the given addresses; bidders and the coordinator talk to its ``--intake``
address. Only the auctioneer whose address is pinned with ``--control-key`` may open,
close or stop auctions (signed requests); ``--key-file`` keeps the server's encryption
key, to which bidders seal their shares. ``--local`` starts all m servers on 127.0.0.1
(TLS between them and on intake) and keeps them running until interrupted, printing
their intake addresses and writing the auctioneer's key to ``--control-key-file``.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

from mevauction.errors import InputError, host_port


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("committee", help="sealed-bid MPC committee servers",
                       description="Sealed-bid MPC committee servers (MPyC, honest majority).")
    csub = p.add_subparsers(dest="committee_command", metavar="ACTION")
    s = csub.add_parser("serve", help="run a committee server (or --local: all of them)")
    s.add_argument("--index", type=int, help="this server's index i, 0 ≤ i < m")
    s.add_argument("--parties", help="host:port of every server's MPC port, comma-separated (m entries)")
    s.add_argument("--intake", help="host:port for bidders and the coordinator (default: MPC port + 1000)")
    s.add_argument("--timeout", type=float, default=60.0, help="abort an auction after this many seconds")
    s.add_argument("--ssl", action="store_true", help="TLS between servers and on intake (MPyC --ssl; "
                                                      "--local always uses TLS)")
    s.add_argument("--control-key", metavar="ADDRESS",
                   help="address of the auctioneer's key: the only signer of open/close/shutdown and reserves")
    s.add_argument("--key-file", help="this server's encryption key (created on first start, kept across restarts)")
    s.add_argument("--control-key-file", default="committee-control.key",
                   help="with --local: where to write the auctioneer's private key (default committee-control.key)")
    s.add_argument("--exit-with-parent", action="store_true",
                   help="exit when the process that started this server dies (local committees)")
    s.add_argument("--tls-dir", help="directory holding .config/ with party_<i>.crt/.key and mpyc_ca.crt "
                                     "(with --local: made for you)")
    s.add_argument("--local", type=int, metavar="M", nargs="?", const=3,
                   help="start all M servers (default 3) on 127.0.0.1 and wait")
    s.set_defaults(func=serve)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def serve(args: argparse.Namespace) -> int:
    if args.local is not None:
        return serve_local(args.local, args.timeout, args.control_key_file)
    if args.parties is None or args.index is None:
        raise InputError("--parties", "give --index and --parties (or --local)")
    parties = [host_port(a, "--parties") for a in args.parties.split(",") if a]
    if not 0 <= args.index < len(parties):
        raise InputError("--index", f"must be in 0..{len(parties) - 1}")
    if args.intake:
        intake = host_port(args.intake, "--intake")
    else:
        intake = (parties[args.index][0], parties[args.index][1] + 1000)
    if args.timeout <= 0:
        raise InputError("--timeout", "must be positive")
    from mevauction.eth import fields

    if args.control_key is None:
        raise InputError("--control-key", "give the auctioneer's address: no control request is taken unsigned")
    controller = fields.address(args.control_key, "--control-key")
    from mevauction.privacy.server import ServerConfig
    from mevauction.privacy.server import serve as run_server

    if args.exit_with_parent:
        from mevauction.privacy.client import exit_with_parent
        exit_with_parent()

    key_file = str(Path(args.key_file).resolve()) if args.key_file else None
    return run_server(ServerConfig(args.index, parties, intake[0], intake[1], args.timeout, args.ssl, args.tls_dir,
                                   controller, key_file))


def serve_local(m: int, timeout: float, control_key_file: str) -> int:
    import os

    from mevauction.privacy.client import LocalCommittee, privacy_warning

    if m < 1:
        raise InputError("--local", "needs at least one server")
    if warning := privacy_warning(m):
        print(f"warning: {warning}")
    with LocalCommittee(m, timeout=timeout) as committee:
        fd = os.open(control_key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("0x" + committee.control_key.hex() + "\n")
        print("committee intake: " + ",".join(f"{h}:{p}" for h, p in committee.intake))
        print(f"auctioneer key: {control_key_file}; TLS CA: {committee.access().tls_dir}")
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C stops the committee
            while all(p.poll() is None for p in committee.procs):
                time.sleep(0.5)
    return 0
