{{/*
monitoring contributions to the database pods (see pgfleet.parts): each returns a YAML list.
The postgres_exporter sidecar connects over the Unix socket (shared emptyDir /var/run/postgresql; pg_hba
`local all all scram-sha-256`) as auth.monitorUser, whose password it reads from a file, never from env.
*/}}
{{- define "pgfleet.monitoring.containers" -}}
{{- $v := .root.Values -}}
{{- if $v.monitoring.enabled -}}
{{- $e := $v.monitoring.exporter -}}
- name: postgres-exporter
  image: {{ include "pgfleet.image" $e.image | quote }}
  imagePullPolicy: {{ $e.image.pullPolicy }}
  args:
    - --web.listen-address=:9187
    - --web.telemetry-path=/metrics
    {{- range $e.extraArgs }}
    - {{ . | quote }}
    {{- end }}
  env:
    - name: DATA_SOURCE_URI
      value: ":5432/postgres?host=/var/run/postgresql&sslmode=disable"
    - name: DATA_SOURCE_USER
      value: {{ $v.auth.monitorUser | quote }}
    - name: DATA_SOURCE_PASS_FILE
      value: /etc/pgfleet/monitor/password
  ports:
    - name: metrics
      containerPort: 9187
  livenessProbe:
    httpGet:
      path: /
      port: metrics
    periodSeconds: 20
    timeoutSeconds: 5
    failureThreshold: 3
  resources:
    {{- toYaml $e.resources | nindent 4 }}
  securityContext:
    {{- include "pgfleet.containerSecurityContext" .root | nindent 4 }}
    runAsUser: 65534
    runAsGroup: 65534
  volumeMounts:
    - name: run
      mountPath: /var/run/postgresql
      readOnly: true
    - name: monitor-password
      mountPath: /etc/pgfleet/monitor
      readOnly: true
{{- else -}}
[]
{{- end -}}
{{- end -}}

{{- define "pgfleet.monitoring.volumes" -}}
{{- if .root.Values.monitoring.enabled -}}
- name: monitor-password
  secret:
    secretName: {{ include "pgfleet.auth.secret" .root }}
    items:
      - key: monitor-password
        path: password
    defaultMode: 0440
{{- else -}}
[]
{{- end -}}
{{- end -}}

{{- define "pgfleet.monitoring.volumeMounts" -}}[]{{- end -}}

{{/* The post-bootstrap script (scripts ConfigMap) creates the monitoring role with this password. */}}
{{- define "pgfleet.monitoring.env" -}}
{{- if .root.Values.monitoring.enabled -}}
{{ include "pgfleet.auth.secretEnv" (list .root "PGFLEET_MONITOR_PASSWORD" "monitor-password") }}
{{- else -}}
[]
{{- end -}}
{{- end -}}

{{/* Ingress to the database pods: Prometheus (monitoring.prometheusSelector) scrapes 9187 and Patroni's 8008. */}}
{{- define "pgfleet.monitoring.ingress" -}}
{{- $m := .root.Values.monitoring -}}
{{- if and $m.prometheusSelector (or $m.enabled $m.patroniMetrics) -}}
- ports:
    {{- if $m.enabled }}
    - port: 9187
      protocol: TCP
    {{- end }}
    {{- if $m.patroniMetrics }}
    - port: 8008
      protocol: TCP
    {{- end }}
  from:
    {{- toYaml $m.prometheusSelector | nindent 4 }}
{{- else -}}
[]
{{- end -}}
{{- end -}}

{{- define "pgfleet.monitoring.egress" -}}[]{{- end -}}
