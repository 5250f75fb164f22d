#!/usr/bin/env python3
"""Fails when a workspace crate depends on a crate above it.

The workspace is layered (README, "Architecture"):

    foundation   text, vault                      depend on nothing of ours
    core         sfu, signaling, booking, …       pure cores: foundation and other cores only
    kit          kit                              the server kit: foundation only, no capability
    rooms        signaling/server                 core, kit (other capabilities open rooms here)
    capability   booking/server, signature/…      core, kit, rooms; never another capability
    binary       web                              composes everything
    tool         loadgen                          foundation and cores only

Each member of Cargo.toml's workspace has a role below; its `[dependencies]` on other members
(path dependencies) must be of a role its own role may use. Dev-dependencies are not checked
(a test may use anything). A member without a role fails the check, so a new crate is placed
deliberately. Python 3 standard library only.

Usage: scripts/check-crate-layers.py [REPO_ROOT]   (exit status 1 on a violation)
"""

import os
import sys
import tomllib

# Member path → role.
ROLES = {
    "text": "foundation",
    "vault": "foundation",
    "sfu": "core",
    "signaling": "core",
    "booking": "core",
    "signature": "core",
    "walkin": "core",
    "kit": "kit",
    "signaling/server": "rooms",
    "signature/server": "capability",
    "booking/server": "capability",
    "walkin/server": "capability",
    "accounts": "capability",
    "web": "binary",
    "loadgen": "tool",
}

# Role → the roles it may depend on.
MAY_USE = {
    "foundation": {"foundation"},
    "core": {"foundation", "core"},
    "kit": {"foundation"},
    "rooms": {"foundation", "core", "kit"},
    "capability": {"foundation", "core", "kit", "rooms"},
    "binary": {"foundation", "core", "kit", "rooms", "capability"},
    "tool": {"foundation", "core"},
}


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
    with open(os.path.join(root, "Cargo.toml"), "rb") as f:
        members = tomllib.load(f)["workspace"]["members"]
    failed = False
    for member in members:
        if member not in ROLES:
            print(f"{member}: no layer role; add it to ROLES in {sys.argv[0]}", file=sys.stderr)
            failed = True
    for member in members:
        role = ROLES.get(member)
        if role is None:
            continue
        with open(os.path.join(root, member, "Cargo.toml"), "rb") as f:
            deps = tomllib.load(f).get("dependencies", {})
        for name, spec in deps.items():
            if not isinstance(spec, dict) or "path" not in spec:
                continue
            target = os.path.relpath(os.path.normpath(os.path.join(root, member, spec["path"])), root)
            target_role = ROLES.get(target)
            if target_role is None:
                print(f"{member} depends on {target}, which has no layer role", file=sys.stderr)
                failed = True
            elif target_role not in MAY_USE[role]:
                print(
                    f"{member} ({role}) depends on {target} ({target_role}): a {role} crate may "
                    f"only use {', '.join(sorted(MAY_USE[role]))}",
                    file=sys.stderr,
                )
                failed = True
    if failed:
        sys.exit(1)
    print(f"every dependency among the {len(members)} workspace crates points down a layer or across")


if __name__ == "__main__":
    main()
