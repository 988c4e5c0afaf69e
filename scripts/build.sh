#!/usr/bin/env bash
# Builds the pubtools-sign binary the way it ships (Dockerfile, demo,
# benchmarks): static (CGO_ENABLED=0: no libc, the pure-Go DNS resolver),
# reproducible paths, no symbol table or DWARF (stack traces keep their
# function names). A cgo build maps libc and its loader too: ~2 MiB more
# RSS in every process (README, Performance).
#
#   scripts/build.sh [OUTPUT]     default bin/pubtools-sign
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bin/pubtools-sign}
CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$out" ./cmd/pubtools-sign
