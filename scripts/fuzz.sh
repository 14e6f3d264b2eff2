#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time (FUZZ_SECONDS each, default 25).
#
#   scripts/fuzz.sh                 # every target, 25 s each (CI)
#   FUZZ_SECONDS=600 scripts/fuzz.sh policy_normalize   # one target, longer (soak)
#
# Needs the nightly toolchain (rustup). cargo-fuzz is installed into the cache on first use.
# The growing corpus lives in the cache (fuzz/corpus/ holds the committed seeds); a crash
# leaves its input under the cache's fuzz-artifacts/ and fails the script: fix the bug, then
# copy the input to fuzz/regressions/<target>/ so `cargo test --test fuzz_regressions`
# replays it on stable for ever.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

cache=${RAM_OPERATOR_CACHE:-$HOME/.cache/ram-operator}
seconds=${FUZZ_SECONDS:-25}
export PATH="$cache/tools/bin:$PATH"

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz: the nightly toolchain is missing (rustup toolchain install nightly)" >&2
  exit 1
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz into $cache/tools" >&2
  CARGO_TARGET_DIR="$cache/tools/build" cargo install --locked cargo-fuzz --root "$cache/tools"
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cd fuzz/fuzz_targets && ls ./*.rs | sed 's|^\./||; s|\.rs$||')
fi

export CARGO_TARGET_DIR="$cache/fuzz-target"
cargo +nightly fuzz build --fuzz-dir fuzz "${targets[@]:0:1}" >/dev/null 2>&1 || true
failed=()
for target in "${targets[@]}"; do
  corpus="$cache/fuzz-corpus/$target"
  artifacts="$cache/fuzz-artifacts/$target"
  # Git keeps no empty folders: a target without kept regressions has none in a fresh clone.
  mkdir -p "$corpus" "$artifacts" "fuzz/regressions/$target"
  printf '==> fuzz %s for %ss\n' "$target" "$seconds" >&2
  if ! cargo +nightly fuzz run --fuzz-dir fuzz "$target" "$corpus" "fuzz/corpus/$target" \
      "fuzz/regressions/$target" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -artifact_prefix="$artifacts/" -print_final_stats=1 2>"$artifacts/last.log"; then
    failed+=("$target")
    tail -n 40 "$artifacts/last.log" >&2
    echo "fuzz: $target failed; inputs under $artifacts" >&2
  else
    grep -E '^(stat::number_of_executed_units|stat::new_units_added)' "$artifacts/last.log" \
      | sed "s/^/fuzz $target: /" >&2 || true
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failing targets: ${failed[*]}" >&2
  exit 1
fi
