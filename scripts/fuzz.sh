#!/usr/bin/env bash
# A short, bounded fuzz run of every target in fuzz/ (cargo-fuzz, libFuzzer), for the test
# command and CI. Fails if any target crashes, panics, times out or runs out of memory; the
# input that did it is kept under fuzz/artifacts/<target>/ (reproduce with
# `scripts/fuzz.sh --repro fuzz/artifacts/<target>/<file>`).
#
# Works on stable Rust: cargo-fuzz is installed if missing and runs without a sanitizer
# (`--sanitizer none`), which needs no unstable rustc or cargo flag (see fuzz/README.md).
#
# Usage: scripts/fuzz.sh [TARGET...]        every target (default) or the named ones
#        scripts/fuzz.sh --repro ARTIFACT   run one saved input again
# Environment:
#   FUZZ_SECONDS  seconds per target (default 15)
#   FUZZ_TIMEOUT  seconds one input may take before it counts as a hang (default 10)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SECONDS_PER_TARGET="${FUZZ_SECONDS:-15}"
TIMEOUT="${FUZZ_TIMEOUT:-10}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz missing: installing it (cargo install cargo-fuzz --locked)"
  cargo install cargo-fuzz --locked
fi

# cargo-fuzz needs nightly only for sanitizers (-Zsanitizer) and -Zbuild-std, neither used
# here: the coverage instrumentation (-Cpasses=sancov-module, -Cllvm-args=...) is stable.
FUZZ_FLAGS=(--sanitizer none --release)

if [ "${1:-}" = "--repro" ]; then
  artifact="${2:?usage: scripts/fuzz.sh --repro fuzz/artifacts/<target>/<file>}"
  target="$(basename "$(dirname "$artifact")")"
  exec cargo fuzz run "${FUZZ_FLAGS[@]}" "$target" "$artifact"
fi

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

echo "building ${#targets[@]} fuzz targets"
cargo fuzz build "${FUZZ_FLAGS[@]}"

WORK="$(mktemp -d /tmp/confidant-fuzz.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
failed=()
for t in "${targets[@]}"; do
  echo "==> fuzz $t for ${SECONDS_PER_TARGET}s"
  mkdir -p "$WORK/$t" "fuzz/artifacts/$t"
  # New inputs go to a scratch corpus (first directory); the committed seeds are read only.
  seeds=()
  [ -d "fuzz/corpus/$t" ] && seeds=("fuzz/corpus/$t")
  if ! cargo fuzz run "${FUZZ_FLAGS[@]}" "$t" "$WORK/$t" "${seeds[@]}" -- \
    -max_total_time="$SECONDS_PER_TARGET" -timeout="$TIMEOUT" -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" \
    >"$WORK/$t.log" 2>&1; then
    tail -n 40 "$WORK/$t.log"
    failed+=("$t")
  else
    grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$WORK/$t.log" | tail -n 2 || true
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzzing failed: ${failed[*]}; the inputs are under fuzz/artifacts/" >&2
  ls -l fuzz/artifacts/* >&2 || true
  exit 1
fi
echo "fuzzing: ${#targets[@]} targets, ${SECONDS_PER_TARGET}s each, no crash"
