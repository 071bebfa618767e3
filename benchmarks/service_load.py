"""Load generator for ``mevauction serve``: signed eth_sendBundle at a fixed rate on 127.0.0.1.

Open loop: request i is due at t0 + i/rate and its latency runs from that due time
to the response (no coordinated omission). Every request is a distinct bundle of one
signed EIP-1559 transaction, authenticated with X-Flashbots-Signature; the server
verifies both signatures and acknowledges only after a durable SQLite commit
(WAL, synchronous=FULL). At the end the database is read to check that every
acknowledged bundle is stored.

    PYTHONPATH=src python benchmarks/service_load.py --rate 3000 --seconds 10

Bounded: at most --seconds of sending (plus start-up and request signing).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "service"))
from service_harness import ServerProcess

from mevauction.client import Signer, signed_transfer


def make_requests(count: int, slot: int, seed: int) -> list[bytes]:
    """Pre-signed HTTP requests (signing is the clients' cost, not the server's)."""
    rng = random.Random(seed)
    signers = [Signer(rng.randbytes(32)) for _ in range(256)]
    out = []
    for i in range(count):
        s = signers[i % len(signers)]
        tx = signed_transfer(
            s.private_key, i // len(signers), "0x" + rng.randbytes(20).hex(), tip=rng.randrange(1, 10**10)
        )
        body = json.dumps({"jsonrpc": "2.0", "id": i, "method": "eth_sendBundle",
                           "params": [{"txs": [tx], "blockNumber": hex(slot)}]}, separators=(",", ":")).encode()
        sig = s.headers(body)["X-Flashbots-Signature"]
        out.append(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                   b"X-Flashbots-Signature: " + sig.encode() + b"\r\nContent-Length: " + str(len(body)).encode()
                   + b"\r\n\r\n" + body)
    return out


async def read_response(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return await reader.readexactly(length)


async def run_load(port: int, requests: list[bytes], rate: float, connections: int) -> tuple[list[float], int, float]:
    queue: asyncio.Queue = asyncio.Queue()
    latencies: list[float] = []
    errors = 0
    t0 = time.perf_counter() + 0.2

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while True:
            item = await queue.get()
            if item is None:
                writer.close()
                return
            due, request = item
            writer.write(request)
            body = await read_response(reader)
            latencies.append(time.perf_counter() - due)
            if b'"result"' not in body:
                errors += 1

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    for i, request in enumerate(requests):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((due, request))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return latencies, errors, time.perf_counter() - t0


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used (Linux /proc): the server's own cost,
    which other load on the machine changes far less than it changes latency."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=3000, help="requests per second (default 3000)")
    parser.add_argument("--seconds", type=float, default=10, help="how long to send (default 10)")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections (default 64)")
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--acceptors", type=int, default=0,
                        help="acceptor processes on the port in front of the auctioneer (default 0)")
    args = parser.parse_args()
    count = int(args.rate * args.seconds)
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    workdir = Path(tempfile.mkdtemp(prefix="mevauction-load-"))
    db = args.db or f"sqlite:///{workdir / 'load.db'}"
    # One long slot: the intake path alone is measured (settlement is benchmarks/service_settle.py).
    server = ServerProcess(
        db,
        slot_seconds=3600,
        log=workdir / "server.log",
        extra=["--acceptors", str(args.acceptors)] if args.acceptors else None,
        env={"MEVAUCTION_RATE_PER_SIGNER": "100000", "MEVAUCTION_BURST_PER_SIGNER": "100000"},
    ).start()
    try:
        slot = httpx.post(server.url + "/", json={"jsonrpc": "2.0", "id": 1, "method": "mev_slot"}).json()["result"][
            "slot"
        ]
        print(f"signing {count} requests ...", flush=True)
        requests = make_requests(count, int(slot, 16), seed=1)
        import uvloop
        assert server.proc is not None
        cpu_before = cpu_seconds(server.proc.pid)
        latencies, errors, elapsed = uvloop.run(run_load(server.port, requests, args.rate, args.connections))
        server_cpu = cpu_seconds(server.proc.pid) - cpu_before
        metrics = httpx.get(server.url + "/metrics").text
    finally:
        server.stop()
    stored = None
    if db.startswith("sqlite:///"):
        conn = sqlite3.connect(db.removeprefix("sqlite:///"))
        stored = conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
        conn.close()
    commits = next(
        (line.split()[-1] for line in metrics.splitlines() if line.startswith("mevauction_db_commits ")), "?"
    )
    achieved = len(latencies) / elapsed
    print(f"requests {len(latencies)}  errors {errors}  elapsed {elapsed:.2f} s  achieved {achieved:.0f}/s "
          f"(target {args.rate:.0f}/s)")
    print(f"latency ms: p50 {1000 * percentile(latencies, 0.5):.2f}  p90 {1000 * percentile(latencies, 0.9):.2f}  "
          f"p99 {1000 * percentile(latencies, 0.99):.2f}  max {1000 * max(latencies):.2f}")
    for line in metrics.splitlines():
        if line.startswith("mevauction_rpc_seconds_bucket"):
            print("  server-side", line)
    print(f"server CPU: {server_cpu:.2f} s, {1e6 * server_cpu / max(1, len(latencies)):.0f} us per request "
          f"(main process; with --acceptors the acceptors' CPU is not counted)")
    print(f"load average before/after: {load_before} / {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"durable: {stored} rows stored for {len(latencies) - errors} acknowledgements; {commits} group commits; "
          f"cores {os.cpu_count()}")
    return 0 if errors == 0 and (stored is None or stored == len(latencies) - errors) else 1


if __name__ == "__main__":
    sys.exit(main())
