"""Hypothesis profiles for the property tests.

"ci" (the default) is Hypothesis' own defaults but the deadline: every property test runs
exactly the example count it names, so the full run is as strong as it has always been. "dev" caps
every property test at DEV_MAX_EXAMPLES examples for the fast loop (`-m "not slow"`).
A test that names its own count must ask for it through `examples(n)`, because an
explicit `max_examples` would otherwise override the loaded profile.
"""

from __future__ import annotations

from hypothesis import settings

PROFILES = ("ci", "dev")
DEV_MAX_EXAMPLES = 10

# No per-example deadline in either: a property is about results, and a test must not
# fail because a shared 2-core machine was slow (Hypothesis' default is 200 ms).
settings.register_profile("ci", deadline=None)
settings.register_profile("dev", max_examples=DEV_MAX_EXAMPLES, deadline=None)

_loaded = "ci"


def load(name: str) -> None:
    """Load profile `name` ("ci" or "dev") for the whole session."""
    global _loaded
    if name not in PROFILES:
        raise ValueError(f"HYPOTHESIS_PROFILE must be one of {', '.join(PROFILES)}, not {name!r}")
    settings.load_profile(name)
    _loaded = name


def examples(full_run: int) -> int:
    """The example count for a test that checks `full_run` examples under the "ci" profile."""
    return min(full_run, DEV_MAX_EXAMPLES) if _loaded == "dev" else full_run
