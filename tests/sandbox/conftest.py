"""Fixtures of the sandbox tests."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest


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
