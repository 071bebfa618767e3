"""The test wasm modules (tests/sandbox/wasm/*.c), built by the project's own script."""

import subprocess
from pathlib import Path

from repo_paths import ROOT


def build_test_modules(out: Path) -> dict[str, bytes]:
    """Compile every test module into ``out``; name → bytes (scripts/build_wasm.sh, clang/lld)."""
    subprocess.run([str(ROOT / "scripts" / "build_wasm.sh"), str(ROOT / "tests" / "sandbox" / "wasm"), str(out)],
                   check=True)
    return {p.stem: p.read_bytes() for p in out.glob("*.wasm")}
