{{/* Names. The base is truncated so that every suffixed name fits in 63 characters. */}}
{{- define "pgfleet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 30 | trimSuffix "-" -}}
{{- end -}}

{{/* Base name of every object, at most 40 characters: shard StatefulSets stay <= 52. */}}
{{- define "pgfleet.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "pgfleet.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Suffix-preserving name: (dict "root" $ "suffix" "x") -> <fullname truncated>-x, <= 63 characters. */}}
{{- define "pgfleet.suffixed" -}}
{{- if not (and .root .suffix) }}{{ fail "pgfleet.suffixed: needs root and suffix" }}{{ end -}}
{{- $base := include "pgfleet.fullname" .root -}}
{{- printf "%s-%s" ($base | trunc (int (sub 62 (len .suffix))) | trimSuffix "-") .suffix -}}
{{- end -}}

{{/* Shard name = Patroni scope = StatefulSet name: (dict "root" $ "shard" i) */}}
{{- define "pgfleet.shard" -}}
{{- if not (and .root (hasKey . "shard")) }}{{ fail "pgfleet.shard: needs root and shard" }}{{ end -}}
{{- include "pgfleet.suffixed" (dict "root" .root "suffix" (printf "shard-%d" (int .shard))) -}}
{{- end -}}

{{- define "pgfleet.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: only name, instance, component (and shard where given). Never user labels. */}}
{{- define "pgfleet.selectorLabels" -}}
{{- if not (and .root .component) }}{{ fail "pgfleet.selectorLabels: needs root and component" }}{{ end -}}
app.kubernetes.io/name: {{ include "pgfleet.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- if hasKey . "shard" }}
pgfleet.io/shard: {{ .shard | quote }}
{{- end }}
{{- end -}}

{{/* Full labels: selector labels + recommended labels + commonLabels. */}}
{{- define "pgfleet.labels" -}}
{{ include "pgfleet.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: pgfleet
helm.sh/chart: {{ include "pgfleet.chart" .root }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Labels of pod templates: pgfleet.labels without the chart and app versions. A pod template that changes rolls its
pods, and a database pod's deletion is a switchover: a chart bump alone must not roll anything.
*/}}
{{- define "pgfleet.podLabels" -}}
{{- $all := include "pgfleet.labels" . | fromYaml -}}
{{- toYaml (omit $all "app.kubernetes.io/version" "helm.sh/chart") -}}
{{- end -}}

{{- define "pgfleet.image" -}}
{{- $img := . -}}
{{- if $img.digest -}}
{{- printf "%s/%s@%s" $img.registry $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s/%s:%s" $img.registry $img.repository $img.tag -}}
{{- end -}}
{{- end -}}

{{- define "pgfleet.serviceAccountName" -}}
{{- default (include "pgfleet.suffixed" (dict "root" . "suffix" "patroni")) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "pgfleet.auth.secret" -}}
{{- default (include "pgfleet.suffixed" (dict "root" . "suffix" "auth")) .Values.auth.existingSecret -}}
{{- end -}}

{{- define "pgfleet.tls.secret" -}}
{{- if eq .Values.tls.provider "existingSecret" -}}
{{- .Values.tls.existingSecret -}}
{{- else -}}
{{- include "pgfleet.suffixed" (dict "root" . "suffix" "tls") -}}
{{- end -}}
{{- end -}}

{{/* Label that marks a pod as an allowed database client (NetworkPolicy). */}}
{{- define "pgfleet.networkPolicy.clientLabel" -}}
{{- printf "%s-client" (include "pgfleet.fullname" .) -}}
{{- end -}}

{{/* Restricted pod security: pod level and container level. */}}
{{- define "pgfleet.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid | default 999 }}
runAsGroup: {{ .uid | default 999 }}
fsGroup: {{ .uid | default 999 }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "pgfleet.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Secret key names in the auth Secret. */}}
{{- define "pgfleet.auth.keys" -}}
superuser-password replication-password rewind-password admin-password app-password pooler-password monitor-password patroni-api-password
{{- end -}}

{{/* The keys an auth.existingSecret must hold with these values (the database pods read them; monitor-password only with monitoring). */}}
{{- define "pgfleet.auth.requiredKeys" -}}
{{- $keys := list "superuser-password" "replication-password" "rewind-password" "admin-password" "app-password" "pooler-password" "patroni-api-password" -}}
{{- if .Values.monitoring.enabled }}{{ $keys = append $keys "monitor-password" }}{{ end -}}
{{- join " " $keys -}}
{{- end -}}

{{/* env entry reading one key of the auth Secret: (list $ "ENV_NAME" "key") */}}
{{- define "pgfleet.auth.secretEnv" -}}
- name: {{ index . 1 }}
  valueFrom:
    secretKeyRef:
      name: {{ include "pgfleet.auth.secret" (index . 0) }}
      key: {{ index . 2 }}
{{- end -}}

{{/*
Annotations of a Helm hook object: (dict "hook" <event> "weight" <string, optional>). Deleted before it is created
again and once it succeeded (a failed one stays, to be read).
*/}}
{{- define "pgfleet.hookAnnotations" -}}
{{- if not .hook }}{{ fail "pgfleet.hookAnnotations: needs hook" }}{{ end -}}
helm.sh/hook: {{ .hook }}
{{- with .weight }}
helm.sh/hook-weight: {{ . | quote }}
{{- end }}
helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
{{- end -}}

{{/* The optional components that contribute parts to the database pods, in the order their parts are joined. */}}
{{- define "pgfleet.components" -}}backup pooler monitoring{{- end -}}

{{/*
Component contributions to the database pods: (dict "root" $ "shard" i "part" P) where P is one of
containers, volumes, volumeMounts, env (the StatefulSet), ingress, egress (its NetworkPolicy). Each component
defines pgfleet.<component>.<part> returning a YAML list; this concatenates them.
*/}}
{{- define "pgfleet.parts" -}}
{{- if not (and .root .part (hasKey . "shard")) }}{{ fail "pgfleet.parts: needs root, shard and part" }}{{ end -}}
{{- $all := list -}}
{{- range $component := include "pgfleet.components" .root | splitList " " -}}
{{- $all = concat $all (include (printf "pgfleet.%s.%s" $component $.part) $ | fromYamlArray) -}}
{{- end -}}
{{- if $all }}{{ toYaml $all }}{{ end -}}
{{- end -}}

{{/* Resources of the tls-reload sidecars: a shell loop, a checksum every interval, psql on a change. */}}
{{- define "pgfleet.tls.reloadResources" -}}
requests:
  cpu: 5m
  memory: 16Mi
limits:
  memory: 64Mi
{{- end -}}
