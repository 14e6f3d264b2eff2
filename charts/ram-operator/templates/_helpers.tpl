{{/* Name of the chart, overridable. */}}
{{- define "ram-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of every object of the release. */}}
{{- define "ram-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "ram-operator.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "ram-operator.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ram-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ram-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ram-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "ram-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "ram-operator.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Name of the leader-election Lease. */}}
{{- define "ram-operator.leaseName" -}}
{{- include "ram-operator.fullname" . -}}
{{- end -}}

{{/*
The rules of what the operator reconciles, granted cluster-wide (ClusterRole) or per watched
namespace (Role). Exactly the verbs the controllers use; see docs/install.md for each one.
tests/chart_rbac_minimal.rs removes each (group, resource, verb) in turn and shows that the
operator breaks without it (delete on Secrets under the OwnerReferencesPermissionEnforcement
admission plugin, which the test control plane runs). Not granted, because nothing needs them: patch on stsgrants (no
finalizer), get on the workloads (the rollout patch alone says when one is missing) and update
on any finalizers subresource (see the status rule).
*/}}
{{- define "ram-operator.workloadRules" -}}
# The three kinds: read and watch them. CrossAccountRole and RamUser carry a finalizer, added
# and removed with a patch (kube-runtime's finalizer helper sends a JSON patch); StsGrant has
# none and is never patched.
- apiGroups: ["ram.alicloud.dev"]
  resources: ["crossaccountroles", "ramusers"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["ram.alicloud.dev"]
  resources: ["stsgrants"]
  verbs: ["get", "list", "watch"]
# Status is written with server-side apply (a patch). Their finalizers subresource needs no
# update: the ownerReferences on the Secrets the operator writes do not set
# blockOwnerDeletion, so even the OwnerReferencesPermissionEnforcement admission plugin
# (OpenShift and other hardened clusters) does not ask for it.
- apiGroups: ["ram.alicloud.dev"]
  resources: ["crossaccountroles/status", "ramusers/status", "stsgrants/status"]
  verbs: ["patch"]
# Secrets: get the credentials Secrets named in spec.credentialsRef / source.secretRef;
# list and watch only with the label selector app.kubernetes.io/managed-by=ram-operator (RBAC
# cannot express a label restriction, so this is a property of the code, not of the rule);
# create and patch the Secrets it renders (server-side apply creates through a patch, and the
# API server checks create for that). delete is never used to delete a Secret (the garbage
# collector removes owned ones): the OwnerReferencesPermissionEnforcement admission plugin
# (OpenShift and other hardened clusters) lets only a user who may delete an object change its
# ownerReferences, which the operator does when a grant's secretDeletionPolicy changes and
# when a RamUser re-created under the same name takes over its Secret.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# Events for every cloud change and failure (events.k8s.io/v1; patch updates a series).
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
# StsGrant rollout: annotate the pod template of the named workloads after a refresh (a merge
# patch; a missing workload is a 404 of that patch).
- apiGroups: ["apps"]
  resources: ["deployments", "statefulsets", "daemonsets"]
  verbs: ["patch"]
{{- end -}}
