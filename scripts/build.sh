#!/usr/bin/env bash
# Builds the pubtools-sign binary the way it ships (Dockerfile, demo,
# benchmarks): static (CGO_ENABLED=0: no libc, the pure-Go DNS resolver),
# reproducible paths, no symbol table or DWARF (stack traces keep their
# function names). A cgo build maps libc and its loader too: ~2 MiB more
# RSS in every process (README, Performance).
#
#   scripts/build.sh [OUTPUT]     default bin/pubtools-sign in the checkout;
#                                 a relative OUTPUT is from where you run it
set -euo pipefail
out=$(realpath -m "${1:-$(dirname "$0")/../bin/pubtools-sign}")
cd "$(dirname "$0")/.."
CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$out" ./cmd/pubtools-sign
