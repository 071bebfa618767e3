#!/usr/bin/env bash
# Build wasm builder algorithms from C with Debian's clang/lld, targeting bare wasm32:
# no libc, no WASI, exports `build` (docs/algorithms.md § WebAssembly).
# Usage: scripts/build_wasm.sh [SRC_DIR [OUT_DIR]]  (default: examples/algorithms/wasm for both)
set -euo pipefail
cd "$(dirname "$0")/.."
CLANG=${CLANG:-clang}
src_dir=${1:-examples/algorithms/wasm}
out=${2:-$src_dir}
mkdir -p "$out"
for src in "$src_dir"/*.c; do
  # --allow-undefined: imports the module declares without an import_module attribute
  # stay imports (from "env"), so the runtime can refuse them by name.
  "$CLANG" --target=wasm32 -nostdlib -O2 -Wl,--no-entry -Wl,--export=build -Wl,--strip-all \
    -Wl,--allow-undefined -o "$out/$(basename "${src%.c}").wasm" "$src"
done
