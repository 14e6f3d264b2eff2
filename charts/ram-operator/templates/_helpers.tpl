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
*/}}
{{- define "ram-operator.workloadRules" -}}
# The three kinds: read and watch them; patch for the finalizer (kube-runtime's finalizer
# helper sends a JSON patch).
- apiGroups: ["ram.alicloud.dev"]
  resources: ["crossaccountroles", "ramusers", "stsgrants"]
  verbs: ["get", "list", "watch", "patch"]
# Status is written with server-side apply (a patch).
- apiGroups: ["ram.alicloud.dev"]
  resources: ["crossaccountroles/status", "ramusers/status", "stsgrants/status"]
  verbs: ["patch"]
# Secrets the operator writes carry an ownerReference with blockOwnerDeletion; clusters with
# the OwnerReferencesPermissionEnforcement admission plugin require update on the owner's
# finalizers for that.
- apiGroups: ["ram.alicloud.dev"]
  resources: ["crossaccountroles/finalizers", "ramusers/finalizers", "stsgrants/finalizers"]
  verbs: ["update"]
# Secrets: get the credentials Secrets named in spec.credentialsRef / source.secretRef;
# list and watch only with the label selector app.kubernetes.io/managed-by=ram-operator (RBAC
# cannot express a label restriction, so this is a property of the code, not of the rule);
# create and patch the Secrets it renders (server-side apply creates through a patch). No
# delete: the garbage collector removes owned Secrets.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "patch"]
# Events for every cloud change and failure (events.k8s.io/v1; patch updates a series).
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
# StsGrant rollout: annotate the pod template of the named workloads after a refresh.
- apiGroups: ["apps"]
  resources: ["deployments", "statefulsets", "daemonsets"]
  verbs: ["get", "patch"]
{{- end -}}
