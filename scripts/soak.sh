#!/usr/bin/env bash
# The long version of the fault and security suite:
#   - the seeded fault run (tests/faults.rs) for SOAK_MINUTES (default 30) of faults,
#   - the schema fuzz with SOAK_SCHEMA_CASES cases per kind (default 200),
#   - every cargo-fuzz target for SOAK_FUZZ_MINUTES each (default 10).
# Seeds are printed; replay one with FAULTS_SEED / SCHEMA_FUZZ_SEED. The summary lines are
# collected at the end (and in $RAM_OPERATOR_CACHE/soak/last.log).
#
# Needs what scripts/test.sh needs; the fault run starts its own control plane, the schema
# fuzz uses the one `scripts/envtest.sh start` runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

cache=${RAM_OPERATOR_CACHE:-$HOME/.cache/ram-operator}
minutes=${SOAK_MINUTES:-30}
schema_cases=${SOAK_SCHEMA_CASES:-200}
fuzz_minutes=${SOAK_FUZZ_MINUTES:-10}
mkdir -p "$cache/soak"
log="$cache/soak/last.log"
: >"$log"

step() { printf '\n==> %s\n' "$*" | tee -a "$log" >&2; }

eval "$(scripts/envtest.sh start)"
cargo build --locked --all-targets
export RAM_OPERATOR_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/ram-operator"

step "fault run: $minutes minutes of faults"
FAULTS_SECONDS=$((minutes * 60)) cargo test --locked --test faults -- --nocapture 2>&1 | tee -a "$log"

step "schema fuzz: $schema_cases cases per kind"
SCHEMA_FUZZ_CASES=$schema_cases cargo test --locked --test schema_fuzz -- --nocapture 2>&1 | tee -a "$log"

step "cargo fuzz: $fuzz_minutes minutes per target"
FUZZ_SECONDS=$((fuzz_minutes * 60)) scripts/fuzz.sh 2>&1 | tee -a "$log"

step "summary"
grep -E '^(faults seed|schema_fuzz seed|fuzz [a-z_]+: stat)' "$log" >&2 || true
