#!/usr/bin/env bash
# A real Kubernetes control plane for the integration tests: etcd, kube-apiserver and
# kube-controller-manager as plain processes on 127.0.0.1, plus a matching kubectl.
#
#   scripts/envtest.sh build                 build (or reuse) the binaries, print the bin dir
#   eval "$(scripts/envtest.sh start)"       start (idempotent) and export KUBECONFIG, PATH, ...
#   scripts/envtest.sh env                   print the export lines of the running plane
#   scripts/envtest.sh status                what runs; exit 0 only if everything is healthy
#   scripts/envtest.sh restart-apiserver [S] stop kube-apiserver, wait S seconds, start it again
#   scripts/envtest.sh restart-etcd [S]      the same for etcd (data and ports are kept)
#   scripts/envtest.sh restart-controller-manager
#                                            the same for kube-controller-manager; its garbage
#                                            collector then knows CRDs installed since at once
#   scripts/envtest.sh stop                  stop what start started, drop the etcd data
#   scripts/envtest.sh build-helm            build helm into the same bin dir, print its path
#
# Binaries come from $KUBEBUILDER_ASSETS when it holds kube-apiserver and etcd (the layout of
# the official envtest archives; kube-controller-manager and kubectl are used from there too
# when present). Otherwise they are built once from the wrapper Go modules in tools/ into
#   ${RAM_OPERATOR_CACHE:-~/.cache/ram-operator}/envtest/<key>/bin
# where <key> names the Kubernetes, etcd and Go versions and a hash of tools/*/go.{mod,sum}.
#
# Only the export lines go to stdout; everything else goes to stderr.
#
# Environment:
#   RAM_OPERATOR_CACHE         cache root (default ~/.cache/ram-operator)
#   RAM_OPERATOR_ENVTEST_DIR   run state: pids, logs, certs, kubeconfig
#                              (default $RAM_OPERATOR_CACHE/envtest-run)
#   RAM_OPERATOR_GO_BUILD_P    go build -p (default 2)
#   KUBEBUILDER_ASSETS         directory with prebuilt binaries to use instead of building
#   GO                         go command (default: go on PATH, else /usr/local/go/bin/go)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HOME=${HOME:-$(cd ~ && pwd)}
CACHE=${RAM_OPERATOR_CACHE:-$HOME/.cache/ram-operator}
STATE=${RAM_OPERATOR_ENVTEST_DIR:-$CACHE/envtest-run}
BUILD_P=${RAM_OPERATOR_GO_BUILD_P:-2}
# Where the (small) etcd data lives: tmpfs when there is one, so fsync costs nothing.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
  ETCD_DATA=/dev/shm/ram-operator-envtest-$(printf '%s' "$STATE" | sha256sum | cut -c1-12)
else
  ETCD_DATA=$STATE/etcd-data
fi
COMPONENTS=(etcd kube-apiserver kube-controller-manager)
# The service account issuer (and default token audience) does not depend on the port, so
# tokens stay valid across restart-apiserver.
SA_ISSUER=https://kubernetes.default.svc.cluster.local
KCM_CONTROLLERS=garbage-collector-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller,root-ca-certificate-publisher-controller,clusterrole-aggregation-controller

log() { printf 'envtest: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --------------------------------------------------------------------------------------------
# Binaries

go_cmd() {
  if [ -n "${GO:-}" ]; then echo "$GO"
  elif command -v go >/dev/null 2>&1; then command -v go
  elif [ -x /usr/local/go/bin/go ]; then echo /usr/local/go/bin/go
  else die "no go toolchain found (set GO=/path/to/go or KUBEBUILDER_ASSETS)"
  fi
}

# The version a wrapper go.mod requires of a module, read without touching the network.
required_version() { # <tools subdir> <module path>
  sed -n "s#^[[:space:]]*\(require[[:space:]]\{1,\}\)\{0,1\}$2[[:space:]]\{1,\}\(v[^[:space:]]*\).*#\2#p" \
    "$ROOT/tools/$1/go.mod" | head -n1
}

k8s_version() { required_version k8s k8s.io/kubernetes; }
etcd_version() { required_version etcd go.etcd.io/etcd/server/v3; }
helm_version() { required_version helm helm.sh/helm/v4; }

cache_bin_dir() {
  local gov hash
  gov=$(GOTOOLCHAIN=local "$(go_cmd)" env GOVERSION)
  hash=$(cd "$ROOT/tools" && cat ./*/go.mod ./*/go.sum | sha256sum | cut -c1-12)
  echo "$CACHE/envtest/k8s-$(k8s_version)_etcd-$(etcd_version)_${gov}_${hash}/bin"
}

# KUBEBUILDER_ASSETS counts as an override unless it is one of our own cache dirs (which
# `start` exports): a stale one must not pin the binaries after tools/ changed.
assets_usable() {
  [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/kube-apiserver" ] &&
    [ -x "$KUBEBUILDER_ASSETS/etcd" ] || return 1
  case "$(cd "$KUBEBUILDER_ASSETS" && pwd)/" in "$CACHE/envtest/"*) return 1 ;; esac
}

go_build() { # <tools subdir> <output file, or dir/ for several> <ldflags> <packages...>
  local dir=$1 out=$2 ldflags=$3
  shift 3
  (cd "$ROOT/tools/$dir" &&
    GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 \
      "$(go_cmd)" build -p "$BUILD_P" -trimpath -ldflags "-s -w $ldflags" -o "$out" "$@")
}

# Build whatever of kube-apiserver, kube-controller-manager, kubectl and etcd is missing in
# the cache bin dir. Binaries only ever appear there by rename, so presence means complete.
build_k8s() {
  local bin k8s minor tmp ldf="" p started
  bin=$(cache_bin_dir)
  mkdir -p "$bin"
  exec 8>"$bin/../build.lock"
  flock 8
  if [ -x "$bin/kube-apiserver" ] && [ -x "$bin/kube-controller-manager" ] &&
    [ -x "$bin/kubectl" ] && [ -x "$bin/etcd" ]; then
    exec 8>&-
    echo "$bin"
    return
  fi
  k8s=$(k8s_version)
  minor=${k8s#v1.}
  minor=${minor%%.*}
  started=$(date +%s)
  log "building Kubernetes $k8s and etcd $(etcd_version) into $bin (a cold build takes a while)"
  tmp=$(mktemp -d "$bin/../tmp.XXXXXX")
  # The same version stamp upstream's hack/lib/version.sh sets; the build date is the
  # release's publication time in the module proxy, so rebuilds are reproducible.
  local date
  date=$(cd "$ROOT/tools/k8s" && GOTOOLCHAIN=local GOWORK=off "$(go_cmd)" list -m \
    -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' k8s.io/kubernetes)
  for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    ldf+=" -X $p.gitVersion=$k8s -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ldf+=" -X $p.gitTreeState=clean -X $p.buildDate=${date:-1970-01-01T00:00:00Z}"
  done
  go_build k8s "$tmp/" "$ldf" k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl ||
    { rm -rf "$tmp"; die "building Kubernetes $k8s failed"; }
  go_build etcd "$tmp/etcd" "" go.etcd.io/etcd/server/v3 ||
    { rm -rf "$tmp"; die "building etcd failed"; }
  "$tmp/kube-apiserver" --version >&2
  "$tmp/etcd" --version >&2
  for p in kube-apiserver kube-controller-manager kubectl etcd; do mv -f "$tmp/$p" "$bin/$p"; done
  rmdir "$tmp"
  log "built in $(($(date +%s) - started)) s"
  exec 8>&-
  echo "$bin"
}

build_helm() {
  local bin v tmp
  bin=$(cache_bin_dir)
  mkdir -p "$bin"
  exec 8>"$bin/../build.lock"
  flock 8
  if [ ! -x "$bin/helm" ]; then
    v=$(helm_version)
    log "building helm $v into $bin"
    tmp=$(mktemp -d "$bin/../tmp.XXXXXX")
    go_build helm "$tmp/helm" "-X helm.sh/helm/v4/internal/version.version=$v \
      -X helm.sh/helm/v4/internal/version.metadata= \
      -X helm.sh/helm/v4/internal/version.gitTreeState=clean" helm.sh/helm/v4/cmd/helm ||
      { rm -rf "$tmp"; die "building helm failed"; }
    mv -f "$tmp/helm" "$bin/helm"
    rmdir "$tmp"
  fi
  exec 8>&-
  echo "$bin/helm"
}

# The directory the control plane runs its binaries from.
resolve_bins() {
  if assets_usable; then
    (cd "$KUBEBUILDER_ASSETS" && pwd)
  else
    case "${KUBEBUILDER_ASSETS:-}" in
      "" | "$CACHE/envtest/"*) ;;
      *) log "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS lacks kube-apiserver or etcd; building instead" ;;
    esac
    build_k8s
  fi
}

# --------------------------------------------------------------------------------------------
# Run state

state_file() { echo "$STATE/state.env"; }
pid_file() { echo "$STATE/pids/$1.pid"; }

load_state() {
  [ -f "$(state_file)" ] || return 1
  # shellcheck disable=SC1090
  . "$(state_file)"
}

save_state() {
  mkdir -p "$STATE"
  {
    printf 'BIN=%q\nETCD_DATA=%q\n' "$BIN" "$ETCD_DATA"
    printf 'ETCD_PORT=%q\nETCD_PEER_PORT=%q\nAPI_PORT=%q\nKCM_PORT=%q\n' \
      "$ETCD_PORT" "$ETCD_PEER_PORT" "$API_PORT" "${KCM_PORT:-}"
  } >"$(state_file).tmp"
  mv "$(state_file).tmp" "$(state_file)"
}

# A pid is ours only if it still runs our binary with our state/data dir on its command line.
pid_is_ours() { # <component> <pid>
  local cmd
  [ -r "/proc/$2/cmdline" ] || return 1
  cmd=$(tr '\0' ' ' <"/proc/$2/cmdline" 2>/dev/null) || return 1
  case "$cmd" in "$BIN/$1 "*) ;; *) return 1 ;; esac
  case "$1" in
    etcd) [[ "$cmd" == *"--data-dir=$ETCD_DATA "* ]] ;;
    *) [[ "$cmd" == *"$STATE/"* ]] ;;
  esac
}

running_pid() { # <component>: print the pid if the component runs, else fail
  local f pid
  f=$(pid_file "$1")
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  pid_is_ours "$1" "$pid" || return 1
  echo "$pid"
}

kill_component() { # <component> [signal, default TERM]
  local f pid i
  f=$(pid_file "$1")
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if pid_is_ours "$1" "$pid"; then
    kill "-${2:-TERM}" "$pid" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do
      pid_is_ours "$1" "$pid" || break
      sleep 0.1
    done
    if pid_is_ours "$1" "$pid"; then
      log "$1 (pid $pid) ignored SIGTERM for 20 s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
    fi
    log "stopped $1 (pid $pid)"
  elif [ -n "$pid" ] && [ -d "/proc/$pid" ]; then
    log "pid $pid in $f is not our $1 any more; leaving it alone"
  fi
  rm -f "$f"
}

# Launch a component detached from this shell: a new session, and none of our file
# descriptors (a caller reading our stdout through $(...) would wait for it forever, and an
# inherited lock descriptor would keep the lock held), then record its pid.
launch() { # <component> <args...>
  local c=$1
  shift
  mkdir -p "$STATE/pids" "$STATE/logs"
  setsid "$BIN/$c" "$@" </dev/null >>"$STATE/logs/$c.log" 2>&1 8>&- 9>&- &
  echo $! >"$(pid_file "$c")"
}

# --------------------------------------------------------------------------------------------
# Ports

port_in_use() { # <port>: any TCP socket bound to it, any state, v4 or v6
  local hex
  hex=$(printf ':%04X ' "$1")
  grep -q -- "$hex" /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

free_port() {
  local p i
  for ((i = 0; i < 100; i++)); do
    p=$((20000 + RANDOM % 40000))
    port_in_use "$p" || { echo "$p"; return; }
  done
  die "found no free TCP port"
}

# --------------------------------------------------------------------------------------------
# Credentials

gen_credentials() {
  local d=$STATE/certs
  mkdir -p "$d"
  chmod 700 "$d"
  if [ ! -s "$d/ca.crt" ] || [ ! -s "$d/apiserver.crt" ]; then
    log "generating certificates in $d"
    openssl ecparam -name prime256v1 -genkey -noout -out "$d/ca.key" 2>/dev/null
    openssl req -x509 -new -key "$d/ca.key" -sha256 -days 3650 -subj "/CN=ram-operator-envtest-ca" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
      -out "$d/ca.crt" 2>/dev/null
    openssl ecparam -name prime256v1 -genkey -noout -out "$d/apiserver.key" 2>/dev/null
    openssl req -new -key "$d/apiserver.key" -subj "/CN=kube-apiserver" -out "$d/apiserver.csr" 2>/dev/null
    openssl x509 -req -in "$d/apiserver.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
      -sha256 -days 3650 -out "$d/apiserver.crt" -extfile <(printf '%s\n' \
        "basicConstraints=critical,CA:FALSE" \
        "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" \
        "keyUsage=critical,digitalSignature,keyEncipherment" \
        "extendedKeyUsage=serverAuth" \
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.0.0.1") 2>/dev/null
    rm -f "$d/apiserver.csr" "$d/ca.srl"
  fi
  if [ ! -s "$d/sa.key" ]; then
    openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
    openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
  fi
  if [ ! -s "$STATE/tokens.csv" ]; then
    printf '%s,envtest-admin,envtest-admin,"system:masters"\n' "$(openssl rand -hex 24)" >"$STATE/tokens.csv"
    chmod 600 "$STATE/tokens.csv"
  fi
}

admin_token() { cut -d, -f1 "$STATE/tokens.csv"; }

write_kubeconfig() {
  local ca
  ca=$(base64 -w0 <"$STATE/certs/ca.crt")
  (umask 077 && cat >"$STATE/kubeconfig.tmp") <<EOF
apiVersion: v1
kind: Config
clusters:
- name: envtest
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority-data: $ca
users:
- name: envtest-admin
  user:
    token: $(admin_token)
contexts:
- name: envtest
  context:
    cluster: envtest
    user: envtest-admin
    namespace: default
current-context: envtest
EOF
  mv "$STATE/kubeconfig.tmp" "$STATE/kubeconfig"
}

# --------------------------------------------------------------------------------------------
# Health

etcd_healthy() {
  curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"'
}

api_get() { # <path>
  curl -fsS --max-time 5 --cacert "$STATE/certs/ca.crt" \
    -H "Authorization: Bearer $(admin_token)" "https://127.0.0.1:$API_PORT$1" 2>/dev/null
}

apiserver_healthy() { [ "$(api_get /readyz)" = ok ]; }

kcm_healthy() {
  [ -n "${KCM_PORT:-}" ] && [ "$(curl -fsSk --max-time 2 "https://127.0.0.1:$KCM_PORT/healthz" 2>/dev/null)" = ok ]
}

healthy() { # <component>
  case "$1" in
    etcd) etcd_healthy ;;
    kube-apiserver) apiserver_healthy ;;
    kube-controller-manager) kcm_healthy ;;
  esac
}

has_kcm() { [ -x "$BIN/kube-controller-manager" ]; }

# Wait until <component> is healthy. Returns 2 if it exited because its port was taken,
# 1 on any other failure (after showing the end of its log).
wait_healthy() { # <component> <timeout seconds>
  local c=$1 deadline=$(($(date +%s) + $2)) pid
  pid=$(cat "$(pid_file "$c")")
  while ! healthy "$c"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$(pid_file "$c")"
      if tail -n 50 "$STATE/logs/$c.log" | grep -q 'address already in use'; then return 2; fi
      log "$c exited during start-up; last lines of $STATE/logs/$c.log:"
      tail -n 30 "$STATE/logs/$c.log" >&2
      return 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "$c not healthy after $2 s; last lines of $STATE/logs/$c.log:"
      tail -n 30 "$STATE/logs/$c.log" >&2
      [ "$c" != kube-apiserver ] || api_get '/readyz?verbose' | grep -v ' ok$' >&2 || true
      kill_component "$c"
      return 1
    fi
    sleep 0.2
  done
}

# --------------------------------------------------------------------------------------------
# Components

start_etcd() {
  mkdir -p "$ETCD_DATA"
  chmod 700 "$ETCD_DATA"
  launch etcd --name=envtest --data-dir="$ETCD_DATA" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="envtest=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync=true --log-level=warn
  wait_healthy etcd 60
}

# OwnerReferencesPermissionEnforcement (off by default upstream, on in OpenShift and other
# hardened clusters) makes an ownerReference with blockOwnerDeletion require update on the
# owner's finalizers: with it on, the chart's RBAC tests hold on such clusters too.
start_apiserver() {
  local d=$STATE/certs
  launch kube-apiserver \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --secure-port="$API_PORT" \
    --endpoint-reconciler-type=none \
    --cert-dir="$d" --tls-cert-file="$d/apiserver.crt" --tls-private-key-file="$d/apiserver.key" \
    --client-ca-file="$d/ca.crt" \
    --token-auth-file="$STATE/tokens.csv" \
    --authorization-mode=Node,RBAC \
    --enable-admission-plugins=OwnerReferencesPermissionEnforcement \
    --service-account-issuer="$SA_ISSUER" --api-audiences="$SA_ISSUER" \
    --service-account-key-file="$d/sa.pub" --service-account-signing-key-file="$d/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 \
    --allow-privileged=true \
    --shutdown-watch-termination-grace-period=2s \
    --profiling=false \
    --v=1
  wait_healthy kube-apiserver 120
}

start_kcm() {
  local d=$STATE/certs
  has_kcm || return 0
  launch kube-controller-manager \
    --kubeconfig="$STATE/kubeconfig" \
    --controllers="$KCM_CONTROLLERS" \
    --leader-elect=false --use-service-account-credentials=false \
    --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --cert-dir="$STATE/kcm-certs" \
    --service-account-private-key-file="$d/sa.key" --root-ca-file="$d/ca.crt" \
    --kube-api-qps=100 --kube-api-burst=200 \
    --profiling=false \
    --v=1
  wait_healthy kube-controller-manager 60
}

# Start one component, choosing new ports and retrying when its port was taken (the free
# port check is racy against other processes binding at the same time).
start_with_retries() { # <component>
  local attempt rc
  for attempt in 1 2 3 4 5; do
    rc=0
    case "$1" in
      etcd) start_etcd || rc=$? ;;
      kube-apiserver) start_apiserver || rc=$? ;;
      kube-controller-manager) start_kcm || rc=$? ;;
    esac
    [ "$rc" -eq 2 ] || return "$rc"
    log "$1: port taken, retrying with another (attempt $attempt)"
    case "$1" in
      etcd) ETCD_PORT=$(free_port); ETCD_PEER_PORT=$(free_port) ;;
      kube-apiserver) API_PORT=$(free_port); write_kubeconfig ;;
      kube-controller-manager) KCM_PORT=$(free_port) ;;
    esac
    save_state
  done
  die "$1: no free port after 5 attempts"
}

all_healthy() {
  local c
  load_state || return 1
  for c in "${COMPONENTS[@]}"; do
    [ "$c" != kube-controller-manager ] || has_kcm || continue
    running_pid "$c" >/dev/null && healthy "$c" || return 1
  done
}

print_env() {
  printf 'export KUBECONFIG=%q\n' "$STATE/kubeconfig"
  printf 'export KUBEBUILDER_ASSETS=%q\n' "$BIN"
  printf 'export RAM_OPERATOR_ENVTEST_DIR=%q\n' "$STATE"
  # shellcheck disable=SC2016 # $PATH is expanded by the shell that evaluates the line
  printf 'export PATH=%q:"$PATH"\n' "$BIN"
}

lock_state() {
  mkdir -p "$STATE"
  exec 9>"$STATE/.lock"
  flock 9
}

cmd_start() {
  local started c
  lock_state
  if all_healthy; then
    log "already running (kube-apiserver on https://127.0.0.1:$API_PORT)"
    print_env
    return
  fi
  if load_state; then stop_all; fi
  BIN=$(resolve_bins)
  started=$(date +%s%N)
  has_kcm || log "warning: no kube-controller-manager in $BIN: no garbage collection, namespaces never finish deleting"
  mkdir -p "$STATE/logs"
  for c in "${COMPONENTS[@]}"; do : >"$STATE/logs/$c.log"; done
  gen_credentials
  ETCD_PORT=$(free_port); ETCD_PEER_PORT=$(free_port); API_PORT=$(free_port); KCM_PORT=$(free_port)
  save_state
  write_kubeconfig
  start_with_retries etcd || { stop_all; die "etcd did not start"; }
  start_with_retries kube-apiserver || { stop_all; die "kube-apiserver did not start"; }
  # The default namespace appears shortly after readiness on a fresh etcd.
  local i
  for ((i = 0; i < 150; i++)); do api_get /api/v1/namespaces/default >/dev/null && break; sleep 0.2; done
  start_with_retries kube-controller-manager || { stop_all; die "kube-controller-manager did not start"; }
  log "control plane up in $((($(date +%s%N) - started) / 1000000)) ms: kube-apiserver https://127.0.0.1:$API_PORT, etcd http://127.0.0.1:$ETCD_PORT, logs in $STATE/logs"
  print_env
}

stop_all() {
  local c i
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do kill_component "${COMPONENTS[i]}"; done
  rm -rf "$ETCD_DATA"
  rm -f "$(state_file)" "$STATE/kubeconfig"
}

cmd_stop() {
  lock_state
  if load_state; then
    stop_all
  else
    # Nothing recorded: still drop stray etcd data.
    rm -rf "$ETCD_DATA"
    log "not running"
  fi
}

cmd_status() {
  local c pid rc=0 port
  if ! load_state; then
    log "not running (no state in $STATE)"
    return 1
  fi
  echo "bin dir: $BIN"
  for c in "${COMPONENTS[@]}"; do
    case "$c" in
      etcd) port="http://127.0.0.1:$ETCD_PORT" ;;
      kube-apiserver) port="https://127.0.0.1:$API_PORT" ;;
      kube-controller-manager) port="https://127.0.0.1:$KCM_PORT"
        has_kcm || { echo "$c: not available in $BIN"; continue; } ;;
    esac
    if pid=$(running_pid "$c"); then
      if healthy "$c"; then echo "$c: healthy (pid $pid, $port)"
      else echo "$c: running but NOT healthy (pid $pid, $port)"; rc=1; fi
    else
      echo "$c: not running"
      rc=1
    fi
  done
  return "$rc"
}

cmd_env() {
  if all_healthy; then print_env; else die "no healthy control plane in $STATE (run: scripts/envtest.sh start)"; fi
}

# Restart one component on the same ports (kube-apiserver, kube-controller-manager and the
# clients keep their configuration), then wait until kube-apiserver is ready again.
# etcd is killed like a crash: a graceful stop waits ~7 s for kube-apiserver's watch streams,
# and SIGKILL loses nothing here (no fsync is done anyway, and the data dir stays).
cmd_restart() { # <component> [seconds down]
  local c=$1 down=${2:-0} rc=0 i sig=TERM
  lock_state
  load_state || die "not running"
  [ "$c" != etcd ] || sig=KILL
  kill_component "$c" "$sig"
  sleep "$down"
  case "$c" in
    etcd) start_etcd || rc=$? ;;
    kube-apiserver) start_apiserver || rc=$? ;;
    kube-controller-manager) start_kcm || rc=$? ;;
  esac
  [ "$rc" -ne 2 ] || die "$c: its port was taken while it was down"
  [ "$rc" -eq 0 ] || die "$c did not come back"
  for ((i = 0; i < 600; i++)); do apiserver_healthy && break; sleep 0.2; done
  apiserver_healthy || die "kube-apiserver not ready 120 s after restarting $c"
  log "$c restarted"
}

case "${1:-}" in
  build)
    if assets_usable; then log "using binaries from KUBEBUILDER_ASSETS"; fi
    resolve_bins ;;
  build-helm) build_helm ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  restart-apiserver) cmd_restart kube-apiserver "${2:-0}" ;;
  restart-etcd) cmd_restart etcd "${2:-0}" ;;
  restart-controller-manager) cmd_restart kube-controller-manager "${2:-0}" ;;
  *)
    sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2 ;;
esac
