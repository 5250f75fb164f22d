#!/usr/bin/env bash
# A CycloneDX 1.5 bill of materials (JSON) of the release build of the `confidant` binary, for
# procurement and vulnerability tracking (e.g. Dependency-Track): every crate compiled into it
# or run to build it, with version, licence, hash of the crates.io package and package URL.
#
#   scripts/sbom.sh [OUTPUT]      default: target/sbom/confidant.cdx.json
#
# Made by cargo-cyclonedx (installed with `cargo install --locked` when missing), for the host
# target, without dev-dependencies. cargo-cyclonedx reads `cargo metadata`, which also lists
# optional dependencies that no enabled feature turns on (rust-lang/cargo#10801: sqlx-mysql and
# rsa, for instance); those are removed here so that the file lists what the build compiles,
# as `cargo tree -e normal,build` resolves it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="${1:-$ROOT/target/sbom/confidant.cdx.json}"

if ! cargo cyclonedx --version >/dev/null 2>&1; then
  echo "cargo cyclonedx missing: cargo install --locked cargo-cyclonedx (once, a few minutes)"
  cargo install --locked cargo-cyclonedx
fi

HOST="$(rustc -vV | sed -n 's/^host: //p')"
WORK="$(mktemp -d)"
# cargo-cyclonedx writes next to each member's Cargo.toml; those files are moved away below.
trap 'rm -rf "$WORK"; rm -f "$ROOT"/*/*_bin.cdx.json' EXIT

cargo cyclonedx --manifest-path web/Cargo.toml --describe binaries --format json \
  --spec-version 1.5 --target "$HOST" -q
mv web/confidant_bin.cdx.json "$WORK/raw.json"
cargo tree --locked -p confidant -e normal,build --target "$HOST" --prefix none --format '{p}' \
  | awk '{ print $1 "@" substr($2, 2) }' | sort -u >"$WORK/built"

mkdir -p "$(dirname "$OUT")"
python3 - "$WORK/raw.json" "$WORK/built" "$OUT" <<'PY'
import json, sys
raw, built_file, out = sys.argv[1:]
bom = json.load(open(raw))
built = set(open(built_file).read().split())
keep = [c for c in bom.get("components", []) if f'{c["name"]}@{c["version"]}' in built]
refs = {c["bom-ref"] for c in keep} | {bom["metadata"]["component"]["bom-ref"]}
dropped = sorted(f'{c["name"]}@{c["version"]}' for c in bom.get("components", []) if c not in keep)
bom["components"] = keep
bom["dependencies"] = [
    {**d, "dependsOn": [r for r in d.get("dependsOn", []) if r in refs]}
    for d in bom.get("dependencies", []) if d["ref"] in refs
]
json.dump(bom, open(out, "w"), indent=2)
print(f"{out}: {len(keep)} components; left out, not compiled: {', '.join(dropped) or 'none'}")
PY
