{{/* pooler contributions to the database pods (see pgfleet.parts): each returns a YAML list. */}}
{{- define "pgfleet.pooler.containers" -}}[]{{- end -}}
{{- define "pgfleet.pooler.volumes" -}}[]{{- end -}}
{{- define "pgfleet.pooler.volumeMounts" -}}[]{{- end -}}

{{/* What the on_role_change callback needs: where the shard's pooler pods are and how to reach their console. */}}
{{- define "pgfleet.pooler.env" -}}
{{- $ := .root -}}
{{- $type := $.Values.pooler.type -}}
{{- if eq $type "none" -}}
[]
{{- else -}}
- name: PGFLEET_POOLER_HOSTS
  value: {{ ternary (include "pgfleet.pgbouncer.headless" (dict "root" $ "shard" .shard)) (include "pgfleet.pgdog.headless" $) (eq $type "pgbouncer") | quote }}
- name: PGFLEET_POOLER_ADMIN_DB
  value: {{ ternary "pgbouncer" "admin" (eq $type "pgbouncer") }}
- name: PGFLEET_POOLER_ADMIN_USER
  value: {{ $.Values.pooler.adminUser | quote }}
- name: PGFLEET_POOLER_PORT
  value: "6432"
- name: PGFLEET_POOLER_ADMIN_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "pgfleet.pooler.secret" $ }}
      key: pooler-admin-password
{{- end -}}
{{- end -}}

{{/* Selector of the pooler pods that talk to one shard: (dict "root" $ "shard" i) -> YAML map. */}}
{{- define "pgfleet.pooler.peerSelector" -}}
{{- $ := .root -}}
{{- if eq $.Values.pooler.type "pgbouncer" -}}
{{ include "pgfleet.selectorLabels" (dict "root" $ "component" "pgbouncer" "shard" .shard) }}
{{- else -}}
{{ include "pgfleet.selectorLabels" (dict "root" $ "component" "pgdog") }}
{{- end -}}
{{- end -}}

{{/* Database pods accept PostgreSQL connections from the poolers of their shard. */}}
{{- define "pgfleet.pooler.ingress" -}}
{{- if and (ne .root.Values.pooler.type "none") -}}
- ports:
    - port: 5432
      protocol: TCP
  from:
    - podSelector:
        matchLabels:
          {{- include "pgfleet.pooler.peerSelector" . | nindent 10 }}
{{- else -}}
[]
{{- end -}}
{{- end -}}

{{/* Database pods reach the poolers' admin console (RECONNECT from the on_role_change callback). */}}
{{- define "pgfleet.pooler.egress" -}}
{{- if ne .root.Values.pooler.type "none" -}}
- ports:
    - port: 6432
      protocol: TCP
  to:
    - podSelector:
        matchLabels:
          {{- include "pgfleet.pooler.peerSelector" . | nindent 10 }}
{{- else -}}
[]
{{- end -}}
{{- end -}}

{{/*
The pooler pods' placement and pod-level security, shared by PgBouncer and PgDog:
(dict "root" $ "selector" <the pods' selector map> "uid" <run-as user>) -> pod spec fields.
*/}}
{{- define "pgfleet.pooler.podPlacement" -}}
{{- if not (and .root .selector .uid) }}{{ fail "pgfleet.pooler.podPlacement: needs root, selector and uid" }}{{ end -}}
{{- $v := .root.Values -}}
{{- with $v.pooler.priorityClassName }}
priorityClassName: {{ . | quote }}
{{- end }}
{{- with $v.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- include "pgfleet.podSecurityContext" (dict "uid" .uid) | nindent 2 }}
{{- with include "pgfleet.pooler.affinity" (dict "root" .root "selector" .selector) }}
affinity:
  {{- . | nindent 2 }}
{{- end }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- toYaml .selector | nindent 8 }}
{{- with $v.pooler.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.pooler.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
The PodDisruptionBudget of a pooler Deployment (one pod at a time; maxSurge keeps the pool's capacity):
(dict "name" <name> "labels" <the labels, rendered YAML> "selector" <selector map>).
*/}}
{{- define "pgfleet.pooler.pdb" -}}
{{- if not (and .name .labels .selector) }}{{ fail "pgfleet.pooler.pdb: needs name, labels and selector" }}{{ end -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .name }}
  labels:
    {{- .labels | nindent 4 }}
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      {{- toYaml .selector | nindent 6 }}
{{- end -}}

{{/*
The client Service of a pooler (type and annotations from pooler.service; each port targets the container port of
the same name): (dict "root" $ "name" <name> "labels" <the labels, rendered YAML> "ports" (list (dict "name" <port
name> "port" <number>) ...) "selector" <selector map>).
*/}}
{{- define "pgfleet.pooler.service" -}}
{{- if not (and .root .name .labels .ports .selector) }}{{ fail "pgfleet.pooler.service: needs root, name, labels, ports and selector" }}{{ end -}}
{{- $svc := .root.Values.pooler.service -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ .name }}
  labels:
    {{- .labels | nindent 4 }}
  {{- with $svc.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ $svc.type }}
  ports:
    {{- range .ports }}
    - name: {{ .name }}
      port: {{ .port }}
      targetPort: {{ .name }}
    {{- end }}
  selector:
    {{- toYaml .selector | nindent 4 }}
{{- end -}}
