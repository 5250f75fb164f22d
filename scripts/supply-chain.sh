#!/usr/bin/env bash
# Supply-chain checks of both lock files (Cargo.lock and fuzz/Cargo.lock), part of the test
# command (scripts/test.sh). Fails on:
#   1. a declared rust-version lower than a locked dependency needs (scripts/msrv-check.py);
#   2. any RustSec vulnerability, and any unmaintained or unsound crate not listed with its
#      reason in .cargo/audit.toml (cargo-audit, against the offline advisory snapshot);
#   3. a licence outside deny.toml's allow-list, a banned crate (rsa, a fourth crypto stack),
#      a second copy of a crypto crate, a git or unknown registry source (cargo-deny).
# Then shows that check 2 would catch a vulnerable lock: a throwaway copy of Cargo.lock with
# smallvec set to 1.6.0 (RUSTSEC-2021-0003) must be refused.
#
# Installs cargo-audit and cargo-deny with `cargo install --locked` when missing.
#
# Environment:
#   CONFIDANT_ADVISORY_DB  RustSec database folder (default: ../shared/advisory-db beside the
#                          repository, the snapshot CI machines carry; when that is missing
#                          too, cargo-audit fetches the database from GitHub)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

install_tool() { # command, crate
  if ! cargo "$1" --version >/dev/null 2>&1; then
    echo "cargo $1 missing: cargo install --locked $2 (once, a few minutes)"
    cargo install --locked "$2"
  fi
}
install_tool audit cargo-audit
install_tool deny cargo-deny

echo "-- rust-version against the lock files"
python3 "$ROOT/scripts/msrv-check.py" Cargo.toml fuzz/Cargo.toml

DB="${CONFIDANT_ADVISORY_DB:-$ROOT/../shared/advisory-db}"
if [ -d "$DB/crates" ]; then
  AUDIT=(cargo audit --db "$DB" --no-fetch --stale)
  echo "-- advisories (RustSec snapshot in $DB)"
else
  AUDIT=(cargo audit)
  echo "-- advisories (no snapshot at $DB: cargo-audit fetches the RustSec database)"
fi
# .cargo/audit.toml (read from the repository root) lists the accepted warnings.
AUDIT+=(--deny unmaintained --deny unsound)
"${AUDIT[@]}" --file Cargo.lock
"${AUDIT[@]}" --file fuzz/Cargo.lock

echo "-- the advisory check refuses a vulnerable lock (throwaway copy, smallvec 1.6.0)"
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT
awk '/^name = "smallvec"$/ { print; getline; print "version = \"1.6.0\""; next } { print }' \
  Cargo.lock >"$SCRATCH/Cargo.lock"
grep -q '^version = "1.6.0"$' "$SCRATCH/Cargo.lock" || { echo "error: smallvec not in Cargo.lock; pick another crate for this check" >&2; exit 1; }
if "${AUDIT[@]}" --file "$SCRATCH/Cargo.lock" >"$SCRATCH/out" 2>&1; then
  cat "$SCRATCH/out"
  echo "error: cargo audit passed a lock with smallvec 1.6.0 (RUSTSEC-2021-0003)" >&2
  exit 1
fi
grep -q 'RUSTSEC-2021-0003' "$SCRATCH/out" || { cat "$SCRATCH/out"; echo "error: cargo audit failed, but not on RUSTSEC-2021-0003" >&2; exit 1; }
echo "refused, as it must be: RUSTSEC-2021-0003"

echo "-- licences, bans, sources (deny.toml)"
cargo deny --locked check licenses bans sources
cargo deny --locked --manifest-path fuzz/Cargo.toml --config deny.toml check licenses bans sources
