#!/usr/bin/env bash
# Smoke test of a running control plane (scripts/envtest.sh start): the API serves CRDs
# and custom resources, the garbage collector deletes dependents of deleted owners (a
# built-in and a custom owner), namespaces finish deleting, and a ServiceAccount token from
# the TokenRequest API authenticates (and is denied by RBAC).
#
# usage: eval "$(scripts/envtest.sh start)" && tools/envtest-smoke.sh
set -euo pipefail
: "${KUBECONFIG:?run eval \"\$(scripts/envtest.sh start)\" first}"

ns=smoke-$RANDOM$RANDOM
k() { kubectl "$@"; }
step() { printf '== %s\n' "$*"; }
# wait_gone <seconds> <kubectl get args...>: poll until the object no longer exists
wait_gone() {
  local t=$1 start=$SECONDS
  shift
  while k get "$@" >/dev/null 2>&1; do
    if ((SECONDS - start > t)); then echo "FAIL: $* still exists after ${t} s" >&2; exit 1; fi
    sleep 0.5
  done
  echo "gone after $((SECONDS - start)) s: $*"
}
cleanup() {
  k delete ns "$ns" --wait=false >/dev/null 2>&1 || true
  k delete crd widgets.smoke.ram-operator.test --wait=false >/dev/null 2>&1 || true
}
trap cleanup EXIT

step "versions (client and server)"
k version

step "namespaces"
k get ns
k create ns "$ns"

step "CRD and custom resource"
k apply -f - <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.smoke.ram-operator.test
spec:
  group: smoke.ram-operator.test
  names: {kind: Widget, plural: widgets, singular: widget}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
EOF
k wait --for=condition=Established --timeout=60s crd/widgets.smoke.ram-operator.test
k -n "$ns" apply -f - <<'EOF'
apiVersion: smoke.ram-operator.test/v1
kind: Widget
metadata: {name: w1}
spec: {size: 3}
EOF
k -n "$ns" get widgets.smoke.ram-operator.test w1 -o jsonpath='{.spec.size}{"\n"}'

# owned <name> <apiVersion> <kind> <owner name> <owner uid>: a ConfigMap owned by the owner
owned() {
  k -n "$ns" apply -f - <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: $1
  ownerReferences:
  - {apiVersion: $2, kind: $3, name: $4, uid: $5}
data: {k: v}
EOF
}

step "garbage collection of a ConfigMap owned by a ConfigMap"
k -n "$ns" create configmap owner --from-literal=k=v
owned dependent v1 ConfigMap owner "$(k -n "$ns" get cm owner -o jsonpath='{.metadata.uid}')"
k -n "$ns" delete cm owner
wait_gone 60 -n "$ns" cm dependent

step "garbage collection of a ConfigMap owned by a custom resource (new kinds: up to ~30 s discovery lag)"
owned widget-dependent smoke.ram-operator.test/v1 Widget w1 \
  "$(k -n "$ns" get widgets.smoke.ram-operator.test w1 -o jsonpath='{.metadata.uid}')"
k -n "$ns" delete widgets.smoke.ram-operator.test w1
wait_gone 90 -n "$ns" cm widget-dependent

step "ServiceAccount token from the TokenRequest API"
k -n "$ns" create serviceaccount smoke
token=$(k -n "$ns" create token smoke --duration=10m)
k --token="$token" auth whoami
if out=$(k --token="$token" -n "$ns" get secrets 2>&1); then
  echo "FAIL: the ServiceAccount may list secrets without any RBAC grant" >&2
  exit 1
fi
case "$out" in
  *Forbidden*|*forbidden*) echo "denied as expected: $out" ;;
  *) echo "FAIL: expected Forbidden, got: $out" >&2; exit 1 ;;
esac
k -n "$ns" create role read-cm --verb=list --resource=configmaps
k -n "$ns" create rolebinding smoke-read-cm --role=read-cm --serviceaccount="$ns:smoke"
for _ in $(seq 50); do k --token="$token" -n "$ns" get cm >/dev/null 2>&1 && break; sleep 0.2; done
k --token="$token" -n "$ns" get cm >/dev/null
echo "allowed after a RoleBinding"

step "namespace deletion finishes"
k delete crd widgets.smoke.ram-operator.test
k delete ns "$ns" --wait=false
wait_gone 90 ns "$ns"
trap - EXIT
echo "smoke test passed"
