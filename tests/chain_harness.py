"""Shared by the chain tests: dev keys of anvil's default mnemonic and signed transfers."""

from __future__ import annotations

from mevauction.eth.transactions import sign

# anvil's default mnemonic accounts 0..3 (public devnet keys)
DEV_KEYS = [bytes.fromhex(k) for k in (
    "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
)]


def transfer(key: bytes, nonce: int, to: str, tip: int = 10**9, value: int = 10**15, gas: int = 30_000,
             chain_id: int = 31337) -> str:
    """A signed EIP-1559 value transfer paying ``tip`` per gas to the coinbase."""
    return "0x" + sign(key, 2, chain_id=chain_id, nonce=nonce, gas_limit=gas, to=to, value=value,
                       max_priority_fee=tip, max_fee=10**11).hex()


class CuttingProxy:
    """A JSON-RPC relay between a service and its node that calls ``cut()`` right after
    the node has taken the ``after``-th ``eth_sendRawTransaction`` and before the service
    hears back: the test harness decides exactly where a delivery is cut short (kill -9
    of the service mid-delivery), with no hook in the service itself."""

    def __init__(self, target: str, after: int, cut, match: bytes = b'"eth_sendRawTransaction"'):
        import http.server
        import threading

        import httpx

        proxy = self
        self.sends = 0
        self.match = match  # what a request body must contain to count (settable later)
        self.cut_done = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                answer = httpx.post(target, content=body, headers={"Content-Type": "application/json"}, timeout=30)
                if proxy.match in body:
                    proxy.sends += 1
                    if proxy.sends == after:
                        cut()
                        proxy.cut_done.set()
                        return  # the service is gone: it never hears the answer
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
