#!/usr/bin/env bash
# Regenerates the screenshots in docs/screens/ (see its README.md):
#  1. tests/e2e/screens.mjs: the main screens at 1280×800 in English and German, and booking and
#     join at 360 px phone width — the real server binary on a temporary database, seeded through
#     the admin CLI and the APIs (counsellor, centre profile, booking page, walk-ins, a form to
#     sign), photographed in headless Chromium with fake camera and microphone;
#  2. tests/e2e/phone.test.mjs: every client screen at 375×812 in German (a test that keeps a
#     picture of each screen it checks).
# Not part of the test command.
#
#   scripts/screens.sh            both
#   scripts/screens.sh main       only the first
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
cargo build -p confidant --features test-capture
export CONFIDANT_BIN="$ROOT/target/debug/confidant"
[ -d tests/e2e/node_modules/playwright-core ] || (cd tests/e2e && npm ci --no-audit --no-fund)
rm -f docs/screens/en-*.png docs/screens/de-*.png
node tests/e2e/screens.mjs "$ROOT/docs/screens"
if [ "${1:-}" != "main" ]; then
  rm -f docs/screens/phone-*.png
  SCREENS_DIR="$ROOT/docs/screens" node --test tests/e2e/phone.test.mjs
fi
ls docs/screens
