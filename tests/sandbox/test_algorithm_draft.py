"""`mevauction algorithm new --draft`, against a real HTTP server on 127.0.0.1 that speaks
the chat-completions shape. The model's draft is untrusted: a hostile one (reads a secret
file, connects to a listener, reads the environment) must be contained by the jail that
`check` runs it in; a valid one is checked and shows its value; a broken endpoint is a
one-line error naming the problem. The API key reaches the endpoint and nothing else."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mevauction.sandbox.jail import jail_problem
from repo_paths import ROOT, SRC

pytestmark = [
    pytest.mark.slow,  # two jailed checks of a 100-order slot
    pytest.mark.skipif(jail_problem() is not None, reason=f"no jail here: {jail_problem()}"),
]

KEY = "sk-test-" + os.urandom(8).hex()
SECRET = "secret-" + os.urandom(8).hex()

HOSTILE = '''
import os, socket, sys
import mevalgo

def attempt(what, fn):
    try:
        print(what, "GOT", repr(fn())[:80], file=sys.stderr)
    except BaseException as e:
        print(what, "DENIED", type(e).__name__, file=sys.stderr)

def build(slot, sim):
    attempt("file", lambda: open(SECRET_PATH).read())
    attempt("socket", lambda: socket.create_connection(("127.0.0.1", PORT), timeout=0.2))
    attempt("environ", lambda: open("/proc/self/environ").read())
    return [slot.orders[0].id], "truthful"

mevalgo.run(build)
'''


class Chat(BaseHTTPRequestHandler):
    reply: bytes = b""
    seen: list[dict] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Chat.seen.append({"auth": self.headers.get("Authorization"), "body": body})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(Chat.reply)))
        self.end_headers()
        self.wfile.write(Chat.reply)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Chat)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    Chat.seen = []
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()
    srv.server_close()


def answer(content: str) -> bytes:
    return json.dumps({"id": "c1", "object": "chat.completion",
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}).encode()


def new(tmp_path, url, out="draft.py", description="greedy by payment"):
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "MEVAUCTION_LLM_KEY": KEY, "MEVAUCTION_LLM_URL": url}
    return subprocess.run([sys.executable, "-m", "mevauction", "algorithm", "new", "--draft", description,
                           "-o", str(tmp_path / out)], capture_output=True, text=True, env=env, timeout=120,
                          cwd=tmp_path)


def test_a_hostile_draft_is_contained_and_a_valid_one_checked(tmp_path, server):
    secret = tmp_path / "key.txt"
    secret.write_text(SECRET)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    code = HOSTILE.replace("SECRET_PATH", repr(str(secret))).replace("PORT", str(listener.getsockname()[1]))
    Chat.reply = answer("Here it is:\n```python\n" + code + "```\nEnjoy.")
    out = new(tmp_path, server)
    print(out.stdout, out.stderr)
    assert (tmp_path / "draft.py").read_text() == code.lstrip("\n") or code in (tmp_path / "draft.py").read_text()
    assert "file DENIED" in out.stdout and "socket DENIED" in out.stdout and "environ" in out.stdout
    assert SECRET not in out.stdout + out.stderr and KEY not in out.stdout + out.stderr
    with pytest.raises(BlockingIOError):
        listener.accept()  # nothing connected
    listener.close()
    assert Chat.seen[0]["auth"] == f"Bearer {KEY}"  # the key went to the endpoint
    prompt = json.dumps(Chat.seen[0]["body"]["messages"])
    assert "greedy by payment" in prompt and "mevalgo.run(build)" in prompt and "mevauction.algorithm/1" in prompt

    Chat.reply = answer("```python\n" + (ROOT / "examples" / "algorithms" / "greedy_lookahead.py").read_text() + "```")
    good = new(tmp_path, server, out="good.py")
    print(good.stdout)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "valid" in good.stdout and "yes" in good.stdout and "its block" in good.stdout


@pytest.mark.parametrize("reply,expect", [(b"<html>oops</html>", "did not answer JSON"),
                                          (json.dumps({"choices": []}).encode(), "without choices"),
                                          (answer("I cannot write code."), "no ```python code block")])
def test_bad_replies_are_one_line_errors(tmp_path, server, reply, expect):
    Chat.reply = reply
    out = new(tmp_path, server)
    assert out.returncode != 0 and expect in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and KEY not in out.stderr
    assert not (tmp_path / "draft.py").exists()


def test_endpoint_down_is_a_one_line_error(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    out = new(tmp_path, f"http://127.0.0.1:{port}/v1")
    assert out.returncode != 0 and "cannot reach" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
