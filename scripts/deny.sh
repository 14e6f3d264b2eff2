#!/usr/bin/env bash
# The dependency policy in deny.toml: licences, bans and sources. These checks need only the
# local registry index, so they run offline. cargo-deny is installed into the cache on first
# use.
#
# The advisories check needs the RustSec database, a git clone from GitHub; run
# `scripts/deny.sh advisories` where GitHub is reachable.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

cache=${RAM_OPERATOR_CACHE:-$HOME/.cache/ram-operator}
export PATH="$cache/tools/bin:$PATH"
if ! command -v cargo-deny >/dev/null 2>&1; then
  echo "deny: installing cargo-deny into $cache/tools" >&2
  CARGO_TARGET_DIR="$cache/tools/build" cargo install --locked cargo-deny --root "$cache/tools"
fi

if [ "$#" -gt 0 ]; then
  exec cargo deny --locked check "$@"
fi
cargo deny --offline --locked check licenses bans sources
