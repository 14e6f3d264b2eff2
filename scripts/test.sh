#!/usr/bin/env bash
# The whole test suite, as CI runs it: lints, the Rust tests (unit, signature vectors,
# emulator, end-to-end on a real control plane) and the Python interop tests that drive
# our code with the official Alibaba Cloud SDKs.
#
# It starts what the tests need: the Python virtualenv (scripts/venv.sh), the local
# kube-apiserver / etcd / kube-controller-manager and helm (scripts/envtest.sh, built from Go
# modules on first use), and Debian's lua5.4 (installed with apt-get when missing). A control plane it started is stopped again on exit unless
# RAM_OPERATOR_KEEP_ENVTEST=1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

step() { printf '\n==> %s\n' "$*" >&2; }

step "lint"
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings

step "python virtualenv with the official SDKs"
venv=$(scripts/venv.sh)

step "control plane"
started_here=0
if ! scripts/envtest.sh status >/dev/null 2>&1; then
  started_here=1
fi
eval "$(scripts/envtest.sh start)"
if [ "$started_here" = 1 ] && [ "${RAM_OPERATOR_KEEP_ENVTEST:-0}" != 1 ]; then
  trap 'scripts/envtest.sh stop >/dev/null 2>&1 || true' EXIT
fi

step "helm (chart tests) and lua5.4 (Argo CD health check tests)"
helm_bin=$(scripts/envtest.sh build-helm)
export RAM_OPERATOR_HELM="$helm_bin"
if ! command -v lua5.4 >/dev/null 2>&1; then
  sudo_cmd=""
  if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq lua5.4 >/dev/null
fi

step "build"
cargo build --locked --all-targets
export RAM_OPERATOR_BIN="$root/target/debug/ram-operator"
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
  export RAM_OPERATOR_BIN="$CARGO_TARGET_DIR/debug/ram-operator"
fi

step "rust tests"
cargo test --locked --all-targets -- --skip seeded_faults_ --skip fuzzed_manifests_

# Run apart so their seeds and summary lines show. tests/faults.rs restarts kube-apiserver and
# etcd, so it starts a control plane of its own (envtest-run-faults in the cache) and never
# touches the one above.
step "seeded fault run and schema fuzz (seeds and summaries printed)"
summaries=$(mktemp)
cargo test --locked --test faults --test schema_fuzz -- --nocapture 2>&1 | tee "$summaries"

step "dependency policy (licences, bans, sources; offline)"
scripts/deny.sh

step "fuzzing (${FUZZ_SECONDS:-20} s per target)"
FUZZ_SECONDS=${FUZZ_SECONDS:-20} scripts/fuzz.sh

step "interop tests with the official SDKs"
# The legacy SDK forwards proxy variables as explicit proxies; the tests only talk to loopback.
env -u HTTP_PROXY -u HTTPS_PROXY -u http_proxy -u https_proxy \
  "$venv/bin/pytest" tests/interop -q

step "summary"
grep -E '^(faults seed=|faults detail:|schema_fuzz seed=)' "$summaries" >&2 || true
rm -f "$summaries"
