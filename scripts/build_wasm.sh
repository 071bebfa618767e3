#!/usr/bin/env bash
# Build the wasm reference algorithm (and the wasm hostile cases the tests use) with
# Debian's clang/lld, targeting bare wasm32: no libc, no WASI, exports `build`.
# Usage: scripts/build_wasm.sh [OUT_DIR]  (default: examples/algorithms/wasm)
set -euo pipefail
cd "$(dirname "$0")/.."
CLANG=${CLANG:-clang}
out=${1:-examples/algorithms/wasm}
mkdir -p "$out"
for src in examples/algorithms/wasm/*.c; do
  "$CLANG" --target=wasm32 -nostdlib -O2 -Wl,--no-entry -Wl,--export=build -Wl,--strip-all \
    -o "$out/$(basename "${src%.c}").wasm" "$src"
done
