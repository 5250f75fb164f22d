#!/usr/bin/env bash
# Regenerates the phone screenshots in docs/screens/ (375×812, German): builds the server and
# runs tests/e2e/phone.test.mjs, which checks every client screen and keeps a picture of each.
#
#   scripts/screens.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
cargo build -p confidant --features test-capture
rm -f docs/screens/phone-*.png
CONFIDANT_BIN="$ROOT/target/debug/confidant" SCREENS_DIR="$ROOT/docs/screens" node --test tests/e2e/phone.test.mjs
ls docs/screens
