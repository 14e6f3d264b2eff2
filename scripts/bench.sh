#!/usr/bin/env bash
# The scale benchmark of the StsGrant controller (docs/benchmark.md): builds the release
# binary and the bench program, starts a control plane of its own (so other users of the
# default one are not disturbed, and they do not disturb the figures), runs
# examples/bench.rs and stops the plane again unless RAM_OPERATOR_KEEP_ENVTEST=1.
#
#   scripts/bench.sh                       1,000 grants, results in bench-results/
#   scripts/bench.sh --grants 10000 --expiry-scale 0.3 --sts-qps 250
#   scripts/bench.sh --help                every flag
#
# Not part of `make test` or CI: timing never goes into tests.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

cache=${RAM_OPERATOR_CACHE:-$HOME/.cache/ram-operator}
export RAM_OPERATOR_ENVTEST_DIR=${RAM_OPERATOR_BENCH_ENVTEST_DIR:-$cache/envtest-run-bench}

cargo build --release --locked --bin ram-operator --example bench >&2

started_here=0
if ! scripts/envtest.sh status >/dev/null 2>&1; then
  started_here=1
fi
eval "$(scripts/envtest.sh start)"
if [ "$started_here" = 1 ] && [ "${RAM_OPERATOR_KEEP_ENVTEST:-0}" != 1 ]; then
  trap 'scripts/envtest.sh stop >/dev/null 2>&1 || true' EXIT
fi

target=${CARGO_TARGET_DIR:-$root/target}
"$target/release/examples/bench" --operator-bin "$target/release/ram-operator" "$@"
