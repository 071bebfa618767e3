"""The connection limits' rules without a server: descriptor budget, caps, displacement order."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mevauction.service.connections import Limits, Registry

ROOT = Path(__file__).resolve().parents[2]
# One subprocess (its descriptor limits are set, and only ever lowered, in there):
# for each (soft, hard) in turn, the limits of a default, a small and an internal listener.
BUDGET = """
import json, resource, sys
from mevauction.errors import InputError
from mevauction.service.config import ServiceConfig
from mevauction.service.connections import limits_from
out = []
for soft, hard in json.loads(sys.argv[1]):
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    row = {}
    for name, config, internal in [("default", ServiceConfig(), False),
                                   ("small", ServiceConfig(max_connections=100), False),
                                   ("internal", ServiceConfig(), True)]:
        try:
            limits = limits_from(config, internal=internal)
            row[name] = [limits.total, limits.per_client, resource.getrlimit(resource.RLIMIT_NOFILE)[0]]
        except InputError as exc:
            row[name] = exc.field
    out.append(row)
print(json.dumps(out))
"""


def test_caps_fit_the_descriptor_limit_with_room_kept_for_the_service():
    cases = [(1024, 8192), (1024, 1024), (200, 200)]  # hard limits only go down
    done = subprocess.run([sys.executable, "-c", BUDGET, json.dumps(cases)], capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT / "src")}, check=True)
    raised, fixed, tiny = json.loads(done.stdout)
    # The soft limit is raised as far as the caps need (4096 + 256 reserved), never further.
    assert raised["default"] == [4096, 128, 4096 + 256]
    # Under 1,024 descriptors: 768 connections, 256 kept for the service.
    assert fixed == {"default": [768, 128, 1024], "small": [100, 100, 1024], "internal": [768, 768, 1024]}
    # Too few descriptors: refused at start, naming the setting.
    assert tiny["default"] == "max_connections"


class FakeLoop:
    def time(self) -> float:
        return 0.0

    def call_later(self, *_args) -> None:
        return None


class FakeConnection:
    loop = FakeLoop()

    def __init__(self, registry: Registry, peer: str):
        self.registry, self.peer, self.deadline, self.cut_off = registry, peer, 1.0, False

    def cut(self) -> None:
        self.cut_off = True
        self.registry.release(self)  # type: ignore[arg-type]


def test_per_client_cap_refuses_and_the_overall_cap_displaces_the_longest_waiting():
    registry = Registry(Limits(header_timeout=5, body_timeout=11, per_client=2, total=3))
    a1, a2, a3 = (FakeConnection(registry, "10.0.0.1") for _ in range(3))
    assert registry.admit(a1) and registry.admit(a2)  # type: ignore[arg-type]
    assert not registry.admit(a3)  # type: ignore[arg-type]
    b1, c1 = FakeConnection(registry, "10.0.0.2"), FakeConnection(registry, "10.0.0.3")
    assert registry.admit(b1)  # type: ignore[arg-type]
    registry.waiting.pop(a1)  # a1 is inside a request: not displaceable
    assert registry.admit(c1)  # type: ignore[arg-type]
    assert a2.cut_off and not a1.cut_off and not b1.cut_off
    for conn in (b1, c1):
        registry.waiting.pop(conn)  # everyone inside a request: a newcomer is refused
    assert not registry.admit(FakeConnection(registry, "10.0.0.4"))  # type: ignore[arg-type]
    assert registry.per_client == {"10.0.0.1": 1, "10.0.0.2": 1, "10.0.0.3": 1}
