"""The static checks CI runs with the tests: ruff (zero findings), mypy (zero errors; strict
for the bottom layers, see pyproject.toml) and the import-layer contract (import-linter)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    exe = BIN / tool if (BIN / tool).exists() else shutil.which(tool)
    assert exe, f"{tool} is not installed (it is a dev dependency: scripts/setup.sh installs it)"
    return subprocess.run([str(exe), *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing():
    result = run("ruff", "check", "src", "tests", "benchmarks")
    assert result.returncode == 0, result.stdout[-4000:]


def test_mypy_finds_nothing():
    result = run("mypy")
    assert result.returncode == 0, result.stdout[-4000:]


def test_import_layers_contract_holds():
    result = run("lint-imports")
    assert result.returncode == 0, result.stdout[-4000:]
