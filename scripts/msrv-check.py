#!/usr/bin/env python3
"""Fails when a workspace's declared rust-version is lower than what its locked dependencies need.

Usage: msrv-check.py MANIFEST...   (each a Cargo.toml at a workspace root)

Reads `cargo metadata` (--locked: the lock file as it is) for the host platform, takes
the highest `rust-version` among the dependencies the build resolves, and compares it with the
`rust-version` of every workspace member. Registry crates that declare none are not counted (cargo
cannot know their minimum either). Exit status 1 names the member and the crates that need more.
"""
import json
import subprocess
import sys


def version(text):
    """'1.89' or '1.89.0' as a comparable tuple (1, 89, 0)."""
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def host_triple():
    out = subprocess.run(["rustc", "-vV"], check=True, capture_output=True, text=True).stdout
    return next(l.split(": ", 1)[1] for l in out.splitlines() if l.startswith("host: "))


def check(manifest, host):
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked",
             "--filter-platform", host, "--manifest-path", manifest],
            check=True, capture_output=True, text=True,
        ).stdout
    )
    resolved = {n["id"] for n in meta["resolve"]["nodes"]}
    members = set(meta["workspace_members"])
    needed = {}
    for p in meta["packages"]:
        if p["id"] in resolved and p.get("source") and p.get("rust_version"):
            needed[f'{p["name"]} {p["version"]}'] = version(p["rust_version"])
    if not needed:
        return True
    top = max(needed.values())
    top_crates = sorted(c for c, v in needed.items() if v == top)
    shown = ".".join(map(str, top[:2]))
    ok = True
    for p in meta["packages"]:
        if p["id"] not in members:
            continue
        declared = p.get("rust_version")
        if declared is None or version(declared) < top:
            ok = False
            print(f'{manifest}: {p["name"]} declares rust-version {declared or "(none)"}, '
                  f'but the lock needs {shown} ({", ".join(top_crates)})', file=sys.stderr)
    if ok:
        print(f"{manifest}: rust-version covers the lock (highest need {shown}: {', '.join(top_crates)})")
    return ok


def main():
    host = host_triple()
    results = [check(m, host) for m in sys.argv[1:]]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
