#!/usr/bin/env python3
"""Checks that config/example.toml parses and names only keys that exist.

Every section and key in config/example.toml must exist in config/default.toml (the built-in
defaults), except instagram.user_id, the one key without a default. Also reports keys of
default.toml that example.toml does not show, so the example stays complete.
"""
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALLOWED_EXTRA = {("instagram", "user_id")}


def keys(table, prefix=()):
    out = set()
    for key, value in table.items():
        path = prefix + (key,)
        if isinstance(value, dict):
            out |= keys(value, path)
        else:
            out.add(path)
    return out


def load(path):
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        sys.exit(f"{path}: {e}")


def main():
    default = keys(load(ROOT / "config" / "default.toml"))
    example = keys(load(ROOT / "config" / "example.toml"))
    unknown = sorted(example - default - ALLOWED_EXTRA)
    missing = sorted(default - example)
    ok = True
    for k in unknown:
        print(f"config/example.toml: unknown key {'.'.join(k)} (not in config/default.toml)")
        ok = False
    for k in missing:
        # A warning only: a new key in default.toml should be documented here, but its
        # absence does not make the example wrong.
        print(f"warning: config/example.toml does not show {'.'.join(k)} from config/default.toml")
    if ("instagram", "user_id") not in example:
        print("config/example.toml: must set instagram.user_id (a placeholder)")
        ok = False
    if not ok:
        return 1
    print(f"config/example.toml: {len(example)} keys, all known to config/default.toml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
