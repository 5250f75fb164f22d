#!/usr/bin/env bash
# Supply-chain checks of the lock files, part of the test command (scripts/test.sh):
#   1. the declared rust-version covers what every locked dependency needs (scripts/msrv-check.py).
# Needs network only for crates.io sources not yet in cargo's cache.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

echo "-- rust-version against the lock files"
python3 "$ROOT/scripts/msrv-check.py" Cargo.toml fuzz/Cargo.toml
