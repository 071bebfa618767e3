#!/usr/bin/env bash
# The TFHE parties' own virtualenv, .venv-fhe: concrete-python pins numpy<2 and imports
# torch, while the main .venv has numpy 2, so the key holder and the evaluator of
# `sealed run --backend tfhe` run as processes of this venv (privacy/tfhe/party.py).
# torch is pinned to the CPU build: an unpinned torch pulls several GB of CUDA wheels.
# Safe to run again (idempotent); called by scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if .venv-fhe/bin/python -c 'import concrete.fhe, coincurve, cryptography, sha3' >/dev/null 2>&1; then
  exit 0
fi
[ -x .venv-fhe/bin/python ] || "$PY" -m venv .venv-fhe
# The CPU torch first, by its exact local version (only the machine's wheel folder has it):
# without it, stop rather than let pip fetch a CUDA torch.
if ! .venv-fhe/bin/python -m pip install --quiet --no-deps 'torch==2.13.0+cpu'; then
  echo "setup-fhe: no CPU build of torch 2.13.0 found; --backend tfhe stays unavailable" >&2
  exit 0
fi
.venv-fhe/bin/python -m pip install --quiet -r scripts/fhe-requirements.txt
.venv-fhe/bin/python -W ignore -c 'import concrete.fhe, coincurve, cryptography, sha3'
