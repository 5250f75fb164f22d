#!/usr/bin/env bash
# The project's test command: builds the workspace, runs every Rust test, then the end-to-end
# browser tests (a counsellor and clients in headless Chromium, and calls between Chromium and
# Firefox ESR, through the server's SFU).
#
# Works on a fresh Debian 12 machine (as root, or with sudo): installs Chromium, Firefox ESR,
# coturn, PostgreSQL and Node.js from apt when they are missing, and the e2e test's npm packages
# when they are missing or outdated. A Rust toolchain (cargo, rustc >= 1.89) must already be
# installed.
#
# Supply chain first (scripts/supply-chain.sh): RustSec advisories with cargo-audit against the
# offline snapshot in ../shared/advisory-db, licences/bans/sources with cargo-deny (both
# installed with `cargo install --locked` when missing), rust-version against the lock.
#
# Storage tests run on SQLite and on PostgreSQL: a throwaway PostgreSQL server is started on
# loopback in a temporary directory (scripts/pg-throwaway.sh) unless CONFIDANT_TEST_PG_URL
# names one already (postgres://USER@HOST:PORT/DB, a user allowed to CREATE DATABASE).
#
# Environment:
#   CHROMIUM_PATH         browser for the e2e test (default: /usr/bin/chromium)
#   FIREFOX_PATH          Firefox for the cross-browser e2e test (default: /usr/bin/firefox-esr)
#   CONFIDANT_TEST_PG_URL PostgreSQL server for the storage tests (default: a throwaway one)
#   RUST_LOG        server log level during the e2e test (default: info)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
E2E_DIR="$ROOT/tests/e2e"
cd "$ROOT"

section() {
  printf '\n\033[1m==> %s\033[0m\n' "$*"
}

die() {
  printf '\033[1;31merror:\033[0m %s\n' "$*" >&2
  exit 1
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found; please install: $*"
  if [ "$APT_UPDATED" -eq 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update
    APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

# ---------------------------------------------------------------------------------------------
section "Tools"

command -v cargo >/dev/null 2>&1 || die "cargo not found: install a Rust toolchain (rustup, Rust >= 1.89)"

CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM_PATH" ]; then
  if [ "$CHROMIUM_PATH" = /usr/bin/chromium ]; then
    echo "chromium missing: installing it from apt"
    apt_install chromium chromium-driver
  else
    die "CHROMIUM_PATH=$CHROMIUM_PATH is not executable"
  fi
fi
export CHROMIUM_PATH

# Firefox runs in the cross-browser call test, driven over WebDriver BiDi by puppeteer-core
# (no geckodriver, no browser download).
FIREFOX_PATH="${FIREFOX_PATH:-/usr/bin/firefox-esr}"
if [ ! -x "$FIREFOX_PATH" ]; then
  if [ "$FIREFOX_PATH" = /usr/bin/firefox-esr ]; then
    echo "firefox-esr missing: installing it from apt"
    apt_install firefox-esr
  else
    die "FIREFOX_PATH=$FIREFOX_PATH is not executable"
  fi
fi
export FIREFOX_PATH

if ! command -v turnserver >/dev/null 2>&1; then
  echo "turnserver missing: installing coturn from apt (the TURN browser test runs it on loopback)"
  apt_install coturn
fi

# The mail tests run a real SMTP server (aiosmtpd) and parse mails and .ics files with
# independent parsers (Python's email and icalendar); the CalDAV tests run a real Radicale.
if ! python3 -c 'import aiosmtpd, icalendar, radicale' >/dev/null 2>&1; then
  echo "aiosmtpd/icalendar/radicale missing: installing them with pip"
  python3 -m pip install --quiet --disable-pip-version-check aiosmtpd icalendar 'radicale>=3.2,<4' \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages aiosmtpd icalendar 'radicale>=3.2,<4'
fi
python3 -c 'import aiosmtpd, icalendar, radicale' || die "python3 with aiosmtpd, icalendar and radicale is required for the mail and calendar tests"

# The signature time-stamp tests run a local RFC 3161 authority (tools/local_tsa.py wraps
# `openssl ts -reply`) and check its tokens with `openssl ts -verify` too.
if ! command -v openssl >/dev/null 2>&1; then
  echo "openssl missing: installing it from apt (the local time-stamping authority)"
  apt_install openssl
fi

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1 || [ "$(node_major)" -lt 18 ]; then
  echo "node/npm missing or older than 18: installing them from apt"
  apt_install nodejs npm
fi
[ "$(node_major)" -ge 18 ] || die "Node.js >= 18 is required (found $(node --version 2>/dev/null || echo none))"

echo "cargo:    $(cargo --version)"
echo "disk:     $(df -h --output=avail "$ROOT" | tail -n 1 | tr -d ' ') free under $ROOT"
echo "node:     $(node --version), npm $(npm --version 2>/dev/null)"
echo "chromium: $("$CHROMIUM_PATH" --version 2>/dev/null | tail -n 1)"
echo "firefox:  $("$FIREFOX_PATH" --version 2>/dev/null | tail -n 1)"

# ---------------------------------------------------------------------------------------------
section "npm packages for the e2e test (tests/e2e)"

LOCK_HASH="$(sha256sum "$E2E_DIR/package-lock.json" | cut -d' ' -f1)"
STAMP="$E2E_DIR/node_modules/.confidant-lock-sha256"
if [ -d "$E2E_DIR/node_modules" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$LOCK_HASH" ]; then
  echo "node_modules is up to date"
else
  # puppeteer-core drives the system's browsers: it must never fetch one of its own
  (cd "$E2E_DIR" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund)
  echo "$LOCK_HASH" >"$STAMP"
fi

# ---------------------------------------------------------------------------------------------
section "Supply chain (scripts/supply-chain.sh)"
"$ROOT/scripts/supply-chain.sh"

# ---------------------------------------------------------------------------------------------
# Incremental artefacts only help repeated local builds; on a clean clone they double the
# target directory's size for nothing.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

section "cargo fmt --check (the workspace and fuzz/ stay rustfmt-clean)"
if ! cargo fmt --version >/dev/null 2>&1; then
  rustup component add rustfmt >/dev/null 2>&1 || true
fi
if cargo fmt --version >/dev/null 2>&1; then
  cargo fmt --all --check
  (cd "$ROOT/fuzz" && cargo fmt --check)
else
  echo "WARNING: rustfmt is not installed for this toolchain and could not be added; formatting not checked"
fi

section "No import circles between the modules of a crate (scripts/check-module-cycles.py)"
python3 "$ROOT/scripts/check-module-cycles.py" "$ROOT"

section "No crate depends on a crate above it (scripts/check-crate-layers.py)"
python3 "$ROOT/scripts/check-crate-layers.py" "$ROOT"

# ---------------------------------------------------------------------------------------------
section "cargo build --workspace --bins"
cargo build --workspace --bins
# The server binary the tests start: the load generator's smoke test (in cargo test) and the
# end-to-end test below.
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')"
export CONFIDANT_BIN="${CONFIDANT_BIN:-$TARGET_DIR/debug/confidant}"
echo "CONFIDANT_BIN=$CONFIDANT_BIN"

# ---------------------------------------------------------------------------------------------
section "PostgreSQL for the storage tests"
if [ -z "${CONFIDANT_TEST_PG_URL:-}" ]; then
  PG_DIR="$(mktemp -d /tmp/confidant-pg.XXXXXX)"
  trap '"$ROOT/scripts/pg-throwaway.sh" stop "$PG_DIR"' EXIT
  eval "$("$ROOT/scripts/pg-throwaway.sh" start "$PG_DIR")"
fi
export CONFIDANT_TEST_PG_URL
echo "CONFIDANT_TEST_PG_URL=$CONFIDANT_TEST_PG_URL"

# ---------------------------------------------------------------------------------------------
section "cargo test --workspace (SQLite; tests that name PostgreSQL use it too)"
cargo test --workspace

# ---------------------------------------------------------------------------------------------
section "Second verifier (tools/verify_evidence.py, from signature/FORMAT.md) on the evidence corpus"
# The corpus (genuine evidence from the server and tampered variants, with the verdicts of
# `confidant signature verify`) was written by the signature test above; the Python verifier
# must agree on every file, the time-stamped corpus (RFC 3161 tokens from a local authority)
# included.
if ! python3 -c 'import cryptography, asn1crypto' >/dev/null 2>&1; then
  echo "cryptography/asn1crypto missing: installing them with pip"
  python3 -m pip install --quiet --disable-pip-version-check cryptography asn1crypto \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages cryptography asn1crypto
fi
python3 tools/verify_evidence.py --corpus "${CONFIDANT_EVIDENCE_CORPUS:-$ROOT/target/evidence-corpus}"
python3 tools/verify_evidence.py --corpus "${CONFIDANT_EVIDENCE_CORPUS_TIMESTAMP:-$ROOT/target/evidence-corpus-timestamp}"

# ---------------------------------------------------------------------------------------------
section "str0m's own test suite (the vendored, patched copy: third_party/str0m/PATCHES.md)"
# Outside the workspace, with its own lock file; in the workspace's target directory and with
# the same dev profile, so it shares the workspace's build of aws-lc and the other crates.
cargo test --manifest-path "$ROOT/third_party/str0m/Cargo.toml" --target-dir "$TARGET_DIR" \
  --features _internal_test_exports

# ---------------------------------------------------------------------------------------------
section "cargo test -p confidant on PostgreSQL (the server's whole suite, second backend)"
CONFIDANT_TEST_BACKEND=postgres cargo test -p confidant

# ---------------------------------------------------------------------------------------------
section "cargo build -p confidant --features test-capture (the e2e server)"
# The browser tests run a server whose SFU records the head of every forwarded frame (a
# test-only capture point, never in release builds), so they can check what the SFU sees.
cargo build -p confidant --features test-capture

# ---------------------------------------------------------------------------------------------
section "End-to-end browser test (node --test tests/e2e/)"
[ -x "$CONFIDANT_BIN" ] || die "server binary not found at $CONFIDANT_BIN"
echo "CONFIDANT_BIN=$CONFIDANT_BIN"
node --test "$E2E_DIR"/*.test.mjs

# ---------------------------------------------------------------------------------------------
# 10 s per target keeps the suite's time in bounds; longer runs: FUZZ_SECONDS=300 scripts/fuzz.sh
export FUZZ_SECONDS="${FUZZ_SECONDS:-10}"
section "Fuzz targets, briefly (scripts/fuzz.sh: ${FUZZ_SECONDS}s per target, stable Rust)"
# Every parser of untrusted input under libFuzzer for a bounded time; a crash fails the run and
# its input stays under fuzz/artifacts/. Installs cargo-fuzz if missing.
"$ROOT/scripts/fuzz.sh"

# ---------------------------------------------------------------------------------------------
section "cargo clippy --workspace --all-targets (warnings are errors)"
if ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add clippy >/dev/null 2>&1 || true
fi
if cargo clippy --version >/dev/null 2>&1; then
  cargo clippy --workspace --all-targets -- -D warnings
else
  echo "WARNING: clippy is not installed for this toolchain and could not be added; lints not checked"
fi

section "All tests passed"
