"""``mevauction serve``: run the auction service (JSON-RPC, slot clock, page) on HTTP."""

from __future__ import annotations

import argparse
import logging

from mevauction.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="run the real-time auction service",
                              description="Run the auction service. Settings come from flags, then MEVAUCTION_* "
                                          "environment variables, then a TOML file (--config), then defaults.")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8545)")
    p.add_argument("--db", help="sqlite:///path.db (default sqlite:///mevauction.db) or postgresql://...")
    p.add_argument("--slot-seconds", type=float, help="slot length in seconds (default 12)")
    p.add_argument("--world", help="world kind (table, amm, evm) or a JSON file with a world object")
    p.add_argument("--chain", help="'anvil' (start an embedded devnet node, stopped on exit) or a node's URL "
                                   "(anvil-like, mining off): slots are its blocks, winning blocks are mined on it")
    p.add_argument("--k-cutoff", type=int, help="exhaustive search below this group size (default 8)")
    p.add_argument("--sealed", action="store_true", default=None,
                   help="open sealed builder bids with a local MPC committee (mevauction.privacy)")
    p.add_argument("--backend", dest="sealed_backend", choices=["mpc", "2pc"],
                   help="with --sealed: the 3-server MPC committee (mpc, default) or a two-party garbled-circuit "
                        "pair (2pc)")
    p.add_argument("--parties-file", dest="sealed_parties_file",
                   help="with --sealed --backend 2pc: a running pair (mevauction.2pc-parties/1) instead of a local one")
    p.add_argument("--builder", action="append", metavar="ADDRESS=DEPOSIT_WEI",
                   help="register a builder with its deposit (repeatable); only registered builders may bid")
    p.add_argument("--algorithm-budget-ms", type=int,
                   help="wall-clock budget of the builders' submitted algorithms at each deadline (default 1000)")
    p.add_argument("--acceptors", type=int, help="acceptor processes sharing the port (default 0: none)")
    p.add_argument("--header-timeout", type=float,
                   help="seconds a connection has to complete a request's headers (default 5)")
    p.add_argument("--max-connections", type=int,
                   help="open connections overall (default 4096, lowered to fit RLIMIT_NOFILE)")
    p.add_argument("--max-connections-per-client", type=int,
                   help="open connections per client address (default 128)")
    p.add_argument("--config", help="TOML file with these settings (a [serve] table or top-level keys)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from mevauction.service.app import create_app
    from mevauction.service.config import builder_flags, load_config
    from mevauction.service.connections import guarded_protocol, limits_from
    from mevauction.service.store import connect, migrate

    flags = {
        k: getattr(args, k) for k in ("host", "port", "db", "slot_seconds", "world", "chain", "k_cutoff", "acceptors",
                                      "sealed", "header_timeout", "max_connections", "max_connections_per_client",
                                      "algorithm_budget_ms", "sealed_backend", "sealed_parties_file")
    }
    flags["builders"] = builder_flags(args.builder)
    config = load_config(flags, args.config)
    migrate(connect(config.db))  # fail here, with one line, if the database cannot be opened
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(f"mevauction service on http://{config.host}:{config.port}/  db={config.db}  "
          f"slot={config.slot_seconds}s  world={config.world_object()['kind']}"
          f"{'  chain=' + config.chain if config.chain else ''}", flush=True)
    app, host, port = create_app(config), config.host, config.port
    if config.acceptors:
        # The acceptors take the public port; this process (the auctioneer) listens inside.
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            host, port = "127.0.0.1", s.getsockname()[1]
        app.internal_url = f"http://{host}:{port}"
        print(f"  {config.acceptors} acceptor processes on the public port; auctioneer on {app.internal_url}",
              flush=True)
    limits = limits_from(config, internal=bool(config.acceptors))
    print(f"  connections: {limits.total} at most, {limits.per_client} per client address; headers within "
          f"{limits.header_timeout:g} s, bodies within {config.body_timeout:g} s", flush=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, loop="uvloop",
                    http=guarded_protocol(limits), timeout_keep_alive=int(limits.keep_alive))
    except OSError as exc:
        raise InputError("--port", f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}") from None
    return 0
