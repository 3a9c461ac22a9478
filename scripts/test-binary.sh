#!/usr/bin/env bash
# Print the path of the test binary `cargo test --workspace --locked` built for the test target
# named $1, so that a second pass runs that same binary. (`cargo test --test NAME` selects other
# targets, so Cargo unifies other features and builds the whole dependency tree again.)
set -euo pipefail
target=${1:?usage: test-binary.sh TEST_TARGET}
cargo test --workspace --locked --no-run --message-format=json \
    | python3 -c '
import json, sys
name = sys.argv[1]
found = [m["executable"] for m in map(json.loads, sys.stdin)
         if m.get("reason") == "compiler-artifact" and m["target"]["name"] == name
         and m["profile"]["test"] and m.get("executable")]
if len(found) != 1:
    sys.exit(f"test-binary.sh: expected one test binary named {name}, found {found}")
print(found[0])
' "$target"
