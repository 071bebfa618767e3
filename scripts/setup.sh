#!/usr/bin/env bash
# Set up a fresh clone: a virtualenv in .venv with mevauction and all extras, and
# the Debian Chromium the web-page tests drive. Safe to run again (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[all]'
# The amm world's compiled core is built in place by that install (setup.py; optional:
# without a C compiler the pure-Python cursor runs). Say which one this checkout has.
.venv/bin/python -c 'from mevauction.worlds.amm import compiled; print("setup: amm world:", compiled.PATH)'
# The TFHE parties' own venv (concrete-python needs numpy<2 and a CPU torch): .venv-fhe.
scripts/setup-fhe.sh
# Chain tools from npm, pinned by tools/chain/package-lock.json (integrity-checked by
# npm ci): anvil and cast from Foundry, the real contract build artifacts (Uniswap V2
# core and periphery, canonical WETH9, OpenZeppelin) and the JavaScript Flashbots client
# the tests drive. Reinstalled when the lock file changed since the last install.
ANVIL_VERSION=1.7.1
lock_sum=$(sha256sum tools/chain/package-lock.json | cut -d' ' -f1)
if [ "$(cat tools/chain/node_modules/.installed-lock 2>/dev/null)" != "$lock_sum" ] \
   || ! tools/chain/node_modules/.bin/anvil --version 2>/dev/null | grep -q "Version: $ANVIL_VERSION"; then
  command -v npm >/dev/null 2>&1 || { echo "setup: npm is needed for the chain tools (tools/chain)" >&2; exit 1; }
  (cd tools/chain && npm ci --no-audit --no-fund --silent)
  tools/chain/node_modules/.bin/anvil --version | grep -q "Version: $ANVIL_VERSION"
  echo "$lock_sum" > tools/chain/node_modules/.installed-lock
fi
# Debian packages the tests start themselves: Chromium (the live page) and a
# PostgreSQL server (the --db postgresql:// backend, on a throw-away cluster).
missing=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)  # throw-away TLS certificates for the committee
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)  # the jail of submitted builder algorithms
# The system Python's AES-GCM, read-only in that jail: an algorithm seals its own bid (sandbox/guest/mevseal.py).
/usr/bin/python3 -I -S -c 'import sys; sys.path.append("/usr/lib/python3/dist-packages"); import cryptography.hazmat.primitives.ciphers.aead' \
  >/dev/null 2>&1 || missing+=(python3-cryptography)
command -v clang >/dev/null 2>&1 || missing+=(clang)  # scripts/build_wasm.sh: the wasm reference algorithm
command -v wasm-ld >/dev/null 2>&1 || missing+=(lld)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian ${missing[*]} for the tests" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null) \
      || echo "setup: could not install ${missing[*]}; those tests will be skipped" >&2
  else
    echo "setup: ${missing[*]} not found and not root; those tests will be skipped" >&2
  fi
fi
