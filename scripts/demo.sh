#!/usr/bin/env bash
# The one-command demo (`make demo`): the whole cross-account flow on this machine.
#
# It builds the operator, starts a private control plane (its own RAM_OPERATOR_ENVTEST_DIR, so
# a plane used by the tests is left alone) and the RAM / IMS / STS emulator with two accounts
# (STS lifetimes scaled down so a refresh happens within the demo), installs the CRDs, runs the
# operator, applies examples/seed/ step by step and says what happens. It prints tables,
# conditions and Events - never a secret value - and removes everything it started on exit.
#
# Environment:
#   RAM_OPERATOR_CACHE          cache root (default ~/.cache/ram-operator)
#   DEMO_EXPIRY_SCALE           STS lifetime factor (default 0.02: 3600 s live 72 s)
#   DEMO_PAUSE                  seconds to pause between steps (default 0)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

CACHE=${RAM_OPERATOR_CACHE:-$HOME/.cache/ram-operator}
export RAM_OPERATOR_ENVTEST_DIR=$CACHE/envtest-demo
EXPIRY_SCALE=${DEMO_EXPIRY_SCALE:-0.02}
PAUSE=${DEMO_PAUSE:-0}
NS=ram-operator-demo
RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ram-operator-demo.XXXXXX")
BIN=${CARGO_TARGET_DIR:-$root/target}/debug/ram-operator
started=$(date +%s)

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
say() { printf '  %s\n' "$*"; }
step() { bold "==> $*"; sleep "$PAUSE"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

pids=()
plane_started=0
cleanup() {
  local status=$?
  bold "==> cleaning up"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$plane_started" = 1 ]; then scripts/envtest.sh stop >/dev/null 2>&1 || true; fi
  rm -rf "$RUN_DIR"
  say "operator, emulator and control plane stopped ($(($(date +%s) - started)) s in all)"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_http() { # <url> <what>
  for _ in $(seq 1 120); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  die "$2 did not answer at $1 (logs in $RUN_DIR)"
}

jsonpath() { # <resource> <jsonpath>
  kubectl -n "$NS" get "$1" -o "jsonpath=$2" 2>/dev/null || true
}

wait_ready() { # <resource>
  if ! kubectl -n "$NS" wait --for=condition=Ready "$1" --timeout=90s >/dev/null; then
    say "$1 is not Ready; its conditions:"
    show_conditions "$1"
    say "operator log: $RUN_DIR/operator.log"
    die "$1 did not become Ready"
  fi
}

show_conditions() { # <resource>
  kubectl -n "$NS" get "$1" \
    -o 'go-template={{range .status.conditions}}    {{.type}}={{.status}} {{.reason}}: {{.message}}{{"\n"}}{{end}}'
}

secret_keys() { # <secret>: key names only
  kubectl -n "$NS" get secret "$1" -o 'go-template={{range $k, $v := .data}}{{$k}} {{end}}'
}

# ---------------------------------------------------------------------------------------------
step "building the operator and the Python SDK environment"
cargo build --quiet --bin ram-operator
venv=$(scripts/venv.sh)
say "binary: target/debug/ram-operator; official SDKs in the cached virtualenv"

step "starting a local Kubernetes control plane (kube-apiserver, etcd, kube-controller-manager)"
if ! scripts/envtest.sh status >/dev/null 2>&1; then plane_started=1; fi
eval "$(scripts/envtest.sh start)"
say "$(kubectl version 2>/dev/null | grep Server || true)"

step "starting the RAM / IMS / STS emulator with account A (1111111111111111) and B (2222222222222222)"
emulator_port=$(free_port)
EMULATOR=http://127.0.0.1:$emulator_port
env -u HTTP_PROXY -u HTTPS_PROXY -u http_proxy -u https_proxy \
  "$BIN" emulator --listen "127.0.0.1:$emulator_port" \
  --accounts examples/emulator-accounts.yaml --expiry-scale "$EXPIRY_SCALE" \
  >"$RUN_DIR/emulator.log" 2>&1 &
pids+=($!)
wait_http "$EMULATOR/_emulator/health" "the emulator"
say "STS lifetimes scaled by $EXPIRY_SCALE: a 3600 s token lives $(python3 -c "print(round(3600*$EXPIRY_SCALE))") s"

step "installing the CRDs (the chart's crds/)"
kubectl apply --server-side --field-manager=ram-operator-demo -f charts/ram-operator/crds/ >/dev/null
kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null
kubectl get crd -o custom-columns=CRD:.metadata.name,SHORT:.spec.names.shortNames | grep -E 'CRD|ram.alicloud.dev'

step "namespace $NS with the administrator credentials of both accounts"
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
# Values come from the emulator's accounts file and are never printed.
read_key() { # <account alias> <id|secret>
  awk -v alias="$1" -v field="$2" '
    $0 ~ "alias: "alias {found=1}
    found && $1 == "-" && $2 == "id:" && field == "id" {print $3; exit}
    found && $1 == "secret:" && field == "secret" {print $2; exit}
  ' examples/emulator-accounts.yaml
}
for account in a b; do
  kubectl -n "$NS" create secret generic "account-$account-credentials" \
    --from-literal=AccessKeyId="$(read_key "account-$account" id)" \
    --from-literal=AccessKeySecret="$(read_key "account-$account" secret)" \
    --dry-run=client -o yaml | kubectl apply -f - >/dev/null
done
kubectl -n "$NS" get secrets
say "(keys only: $(secret_keys account-a-credentials))"

step "running the operator (watching $NS, pointed at the emulator)"
metrics_port=$(free_port)
health_port=$(free_port)
RUST_LOG=${RUST_LOG:-info} env -u HTTP_PROXY -u HTTPS_PROXY -u http_proxy -u https_proxy \
  "$BIN" run --namespace "$NS" --cluster-name demo \
  --ram-endpoint "$EMULATOR" --ims-endpoint "$EMULATOR" --sts-endpoint "$EMULATOR" \
  --allow-insecure-endpoints \
  --metrics-addr "127.0.0.1:$metrics_port" --health-addr "127.0.0.1:$health_port" \
  >"$RUN_DIR/operator.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$health_port/readyz" "the operator"
say "ready: /readyz on :$health_port, Prometheus /metrics on :$metrics_port"

step "1. Account A creates a RAM role that trusts Account B (examples/seed/10-account-a-role.yaml)"
kubectl -n "$NS" apply -f examples/seed/10-account-a-role.yaml
wait_ready crossaccountrole/rabbitmq-access
kubectl -n "$NS" get crossaccountrole
say "ARN: $(jsonpath crossaccountrole/rabbitmq-access '{.status.arn}')"
say "trusted accounts: $(jsonpath crossaccountrole/rabbitmq-access '{.status.trustedAccounts}')"
say "console Switch Role: $(jsonpath crossaccountrole/rabbitmq-access '{.status.switchRole}')"

step "2. Account B creates a RAM user with an AccessKey (examples/seed/20-account-b-user.yaml)"
kubectl -n "$NS" apply -f examples/seed/20-account-b-user.yaml
wait_ready ramuser/rabbitmq-app
kubectl -n "$NS" get ramuser
say "AccessKey written to Secret rabbitmq-app-access-key, keys: $(secret_keys rabbitmq-app-access-key)"

step "3. Short-lived STS credentials for A's role, obtained with B's user (examples/seed/30-grant.yaml)"
kubectl -n "$NS" apply -f examples/seed/30-grant.yaml
wait_ready stsgrant/rabbitmq-app
kubectl -n "$NS" get stsgrant
say "Secret rabbitmq-app, keys: $(secret_keys rabbitmq-app)"
say "expires $(jsonpath stsgrant/rabbitmq-app '{.status.expiration}'), next refresh $(jsonpath stsgrant/rabbitmq-app '{.status.nextRefreshTime}')"

caller_identity() {
  # The script maps the Secret's Env keys to its environment, as envFrom does for a pod.
  kubectl -n "$NS" get secret rabbitmq-app -o json |
    env -u HTTP_PROXY -u HTTPS_PROXY -u http_proxy -u https_proxy \
      "$venv/bin/python" scripts/demo_caller_identity.py "127.0.0.1:$emulator_port"
}

step "4. A workload uses the Secret with the official Python SDK: who am I?"
caller_identity || die "the SDK could not use the grant's credentials"
say "the caller is A's role, assumed by B's user: the cross-account flow works"

step "5. The operator refreshes the credentials before they expire"
first_refresh=$(jsonpath stsgrant/rabbitmq-app '{.status.lastRefreshTime}')
first_key=$(jsonpath stsgrant/rabbitmq-app '{.status.accessKeyId}')
say "waiting for the refresh planned at $(jsonpath stsgrant/rabbitmq-app '{.status.nextRefreshTime}') ..."
for _ in $(seq 1 180); do
  [ "$(jsonpath stsgrant/rabbitmq-app '{.status.lastRefreshTime}')" != "$first_refresh" ] && break
  sleep 1
done
[ "$(jsonpath stsgrant/rabbitmq-app '{.status.lastRefreshTime}')" != "$first_refresh" ] ||
  die "no refresh within 180 s"
say "refreshed at $(jsonpath stsgrant/rabbitmq-app '{.status.lastRefreshTime}'); temporary key ${first_key:0:8}... replaced by $(jsonpath stsgrant/rabbitmq-app '{.status.accessKeyId}' | cut -c1-8)..."
say "new expiry $(jsonpath stsgrant/rabbitmq-app '{.status.expiration}')"
caller_identity || die "the refreshed credentials do not work"

step "6. Account A revokes Account B: B leaves trustedAccounts"
kubectl -n "$NS" patch crossaccountrole rabbitmq-access --type=merge \
  -p '{"spec":{"trustedAccounts":["3333333333333333"]}}'
wait_ready crossaccountrole/rabbitmq-access
say "trusted accounts now: $(jsonpath crossaccountrole/rabbitmq-access '{.status.trustedAccounts}')"
say "credentials already issued stay valid until they expire (as on Alibaba Cloud); the next"
say "refresh is refused, and the grant turns Ready=False once the old credentials expire:"
for _ in $(seq 1 180); do
  [ "$(jsonpath stsgrant/rabbitmq-app '{.status.conditions[?(@.type=="Ready")].status}')" = False ] && break
  sleep 1
done
kubectl -n "$NS" get stsgrant
show_conditions stsgrant/rabbitmq-app
caller_identity && say "(the old credentials still work until their expiry)" || say "the workload is locked out"

step "Events"
kubectl -n "$NS" get events --sort-by=.lastTimestamp \
  -o custom-columns=TYPE:.type,REASON:.reason,OBJECT:.involvedObject.name,MESSAGE:.message 2>/dev/null ||
  kubectl -n "$NS" get events --sort-by=.lastTimestamp

step "done in $(($(date +%s) - started)) s: logs were in $RUN_DIR (removed now)"
