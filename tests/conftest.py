"""Shared test setup: import paths, the `slow` marker's rule and the Hypothesis profile.

The `slow` rule (also in pyproject.toml's marker description): a test is slow when it
starts a process that outlives one call (a service, an MPC committee, worker processes,
a Ray cluster, a browser, a database), or when it takes more than ~1 s of CPU on its own,
counting the child processes it runs. Every such test carries the marker (module-level
`pytestmark` when every test of the module qualifies, otherwise a per-test decorator,
each with a comment saying why); no other test does. Short one-shot CLI runs (`python -m
mevauction ...`, well under 1 s of CPU) are not slow: they are the cheapest check of the
command-line contract.

`pytest -m "not slow"` is the developer's fast loop (target: under 60 s on 2 cores).
Property tests are not marked slow for their example counts; instead the fast loop loads
the "dev" Hypothesis profile (tests/property_settings.py), which caps the examples. The
profile is HYPOTHESIS_PROFILE when set, otherwise "dev" when the mark expression is
exactly `not slow`, otherwise "ci", which keeps every test's full example count. So the
full run (`pytest -q -n 2 --dist loadfile`) checks exactly what it always did.
"""

import os
import sys
import tempfile
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS.parent / "src"))
sys.path.insert(0, str(TESTS))

import property_settings  # noqa: E402  (needs the path above)

FAST_LOOP = "not slow"


def pytest_configure(config):
    markexpr = (config.getoption("markexpr") or "").strip()
    property_settings.load(os.environ.get("HYPOTHESIS_PROFILE") or ("dev" if markexpr == FAST_LOOP else "ci"))


def pytest_report_header(config):
    # which execution path the amm world's tests and benchmarks exercise here
    from mevauction.worlds.amm import compiled

    return f"amm world: {compiled.PATH}"


# Here, not in tests/sandbox/conftest.py: tests of other directories import their own
# ``conftest`` by name (``from conftest import ...``), and a second one would shadow it.
@pytest.fixture
def jail_dirs(monkeypatch) -> list[Path]:
    """The jail directories this test makes, to check each is removed after it. Not a
    snapshot of the shared work root: other test workers' jails come and go there."""
    made: list[Path] = []
    real = tempfile.mkdtemp

    def recording(*args, **kwargs):
        path = real(*args, **kwargs)
        if str(kwargs.get("prefix", "")).startswith("mevalgo-"):
            made.append(Path(path))
        return path

    monkeypatch.setattr(tempfile, "mkdtemp", recording)
    return made
