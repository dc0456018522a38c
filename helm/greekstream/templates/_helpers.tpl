{{/* Names and labels */}}
{{- define "greekstream.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- /* at most 45 characters: every object is named <fullname>-<component>, the longest
     "-processor-metrics" (18), and a Service or a Job's name is a DNS label of at most 63 */ -}}
{{- define "greekstream.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 45 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 45 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 45 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "greekstream.selectorLabels" -}}
app.kubernetes.io/name: {{ include "greekstream.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "greekstream.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{ include "greekstream.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: greekstream
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end -}}

{{- define "greekstream.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "greekstream.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "greekstream.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/*
Settings -> environment. A `settings` block (the settings model's fields, snake_case) becomes
GREEKSTREAM_<FIELD>, nested sections GREEKSTREAM_<SECTION>__<FIELD>; nulls are left out.
Helm reads numbers from values files as float64: whole numbers are printed as integers.
A list (e.g. engine.regime_bounds) is printed as JSON, which is how the settings read it.
Call with (dict "prefix" "GREEKSTREAM_" "values" $settings); renders `NAME: "value"` lines.
*/}}
{{- define "greekstream.settingsEnv" -}}
{{- $prefix := .prefix -}}
{{- range $key, $value := .values }}
{{- if kindIs "map" $value }}
{{- include "greekstream.settingsEnv" (dict "prefix" (printf "%s%s__" $prefix (upper $key)) "values" $value) }}
{{- else if not (kindIs "invalid" $value) }}
{{- if and (kindIs "float64" $value) (eq $value (floor $value)) }}
{{ printf "%s%s" $prefix (upper $key) }}: {{ $value | int64 | toString | quote }}
{{- else if kindIs "slice" $value }}
{{ printf "%s%s" $prefix (upper $key) }}: {{ $value | toJson | quote }}
{{- else }}
{{ printf "%s%s" $prefix (upper $key) }}: {{ $value | toString | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The non-secret KafkaSettings as env lines: kafka.settings + the mounted TLS file paths. */}}
{{- define "greekstream.kafkaEnv" -}}
{{- include "greekstream.settingsEnv" (dict "prefix" "GREEKSTREAM_KAFKA__" "values" .Values.kafka.settings) }}
{{- with .Values.kafka.tls }}
{{- if .existingSecret }}
{{- if .caKey }}
GREEKSTREAM_KAFKA__SSL_CA_LOCATION: {{ printf "/etc/greekstream/kafka-tls/%s" .caKey | quote }}
{{- end }}
{{- if .certificateKey }}
GREEKSTREAM_KAFKA__SSL_CERTIFICATE_LOCATION: {{ printf "/etc/greekstream/kafka-tls/%s" .certificateKey | quote }}
{{- end }}
{{- if .keyKey }}
GREEKSTREAM_KAFKA__SSL_KEY_LOCATION: {{ printf "/etc/greekstream/kafka-tls/%s" .keyKey | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The ConfigMap data of one component ("processor", "sink", "serve", "topics"). */}}
{{- define "greekstream.configData" -}}
{{- $root := .root -}}
{{- if has .component (list "processor" "sink" "topics") }}
{{- include "greekstream.kafkaEnv" $root }}
{{- end }}
{{- if has .component (list "processor" "sink" "serve" "topics") }}
{{- include "greekstream.settingsEnv" (dict "prefix" "GREEKSTREAM_" "values" (get $root.Values .component).settings) }}
{{- end }}
{{- /* the sink (its arrival clocks: max_ts_ahead_s) and serve (its replays) follow the
     processors' engine settings, from the one place they are set */}}
{{- if has .component (list "sink" "serve") }}
{{- include "greekstream.settingsEnv" (dict "prefix" "GREEKSTREAM_ENGINE__" "values" $root.Values.processor.settings.engine) }}
{{- end }}
{{- if and (has .component (list "processor" "serve")) $root.Values.processor.scenarios }}
GREEKSTREAM_ENGINE__SCENARIOS_FILE: "/etc/greekstream/scenarios/scenarios.yaml"
{{- end }}
{{- if and (has .component (list "processor" "serve")) $root.Values.processor.returns }}
GREEKSTREAM_ENGINE__RETURNS_FILE: "/etc/greekstream/returns/returns.csv"
{{- end }}
{{- if and (eq .component "serve") $root.Values.serve.tokens.fileKey }}
GREEKSTREAM_TOKENS_FILE: {{ printf "/etc/greekstream/tokens/%s" $root.Values.serve.tokens.fileKey | quote }}
{{- end }}
{{- end -}}

{{/* Env vars from Secrets (never inlined) for a component. */}}
{{- define "greekstream.secretEnv" -}}
{{- $v := .root.Values -}}
{{- if has .component (list "processor" "sink" "topics") }}
{{- with $v.kafka.sasl }}
{{- if .existingSecret }}
- name: GREEKSTREAM_KAFKA__SASL_USERNAME
  valueFrom:
    secretKeyRef: {name: {{ .existingSecret | quote }}, key: {{ .usernameKey | quote }}}
- name: GREEKSTREAM_KAFKA__SASL_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ .existingSecret | quote }}, key: {{ .passwordKey | quote }}}
{{- end }}
{{- end }}
{{- if and $v.kafka.tls.existingSecret $v.kafka.tls.keyPasswordKey }}
- name: GREEKSTREAM_KAFKA__SSL_KEY_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ $v.kafka.tls.existingSecret | quote }}, key: {{ $v.kafka.tls.keyPasswordKey | quote }}}
{{- end }}
{{- end }}
{{- if has .component (list "sink" "serve" "migrate") }}
- name: GREEKSTREAM_CLICKHOUSE_DSN
  valueFrom:
    secretKeyRef: {name: {{ $v.clickhouse.existingSecret | quote }}, key: {{ $v.clickhouse.dsnKey | quote }}}
{{- end }}
{{- if and (eq .component "serve") $v.serve.tokens.jsonKey }}
- name: GREEKSTREAM_TOKENS_JSON
  valueFrom:
    secretKeyRef: {name: {{ $v.serve.tokens.existingSecret | quote }}, key: {{ $v.serve.tokens.jsonKey | quote }}}
{{- end }}
{{- if eq .component "processor" }}
- name: GREEKSTREAM_INSTANCE_ID   # the transactional id's suffix: stable for the pod's life
  valueFrom:
    fieldRef: {fieldPath: metadata.name}
{{- end }}
{{- end -}}

{{/* Volumes and mounts: a writable /tmp (the root filesystem is read-only; serve spools its
replays' records there: serve.tmpSizeLimit) and secrets as files. */}}
{{- define "greekstream.volumes" -}}
- name: tmp
  emptyDir: {sizeLimit: {{ if eq .component "serve" }}{{ .root.Values.serve.tmpSizeLimit | default "1Gi" }}{{ else }}256Mi{{ end }}}
{{- if and (has .component (list "processor" "sink" "topics")) .root.Values.kafka.tls.existingSecret }}
- name: kafka-tls
  secret:
    secretName: {{ .root.Values.kafka.tls.existingSecret | quote }}
    defaultMode: 0440
{{- end }}
{{- if and (has .component (list "processor" "serve")) .root.Values.processor.scenarios }}
- name: scenarios
  configMap:
    name: {{ include "greekstream.fullname" .root }}-scenarios
    defaultMode: 0444
{{- end }}
{{- if and (has .component (list "processor" "serve")) .root.Values.processor.returns }}
- name: returns
  configMap:
    name: {{ include "greekstream.fullname" .root }}-returns
    defaultMode: 0444
{{- end }}
{{- if and (eq .component "serve") .root.Values.serve.tokens.fileKey }}
- name: tokens
  secret:
    secretName: {{ .root.Values.serve.tokens.existingSecret | quote }}
    defaultMode: 0440
    items:
      - {key: {{ .root.Values.serve.tokens.fileKey | quote }}, path: {{ .root.Values.serve.tokens.fileKey | quote }}}
{{- end }}
{{- end -}}

{{- define "greekstream.volumeMounts" -}}
- {name: tmp, mountPath: /tmp}
{{- if and (has .component (list "processor" "sink" "topics")) .root.Values.kafka.tls.existingSecret }}
- {name: kafka-tls, mountPath: /etc/greekstream/kafka-tls, readOnly: true}
{{- end }}
{{- if and (has .component (list "processor" "serve")) .root.Values.processor.scenarios }}
- {name: scenarios, mountPath: /etc/greekstream/scenarios, readOnly: true}
{{- end }}
{{- if and (has .component (list "processor" "serve")) .root.Values.processor.returns }}
- {name: returns, mountPath: /etc/greekstream/returns, readOnly: true}
{{- end }}
{{- if and (eq .component "serve") .root.Values.serve.tokens.fileKey }}
- {name: tokens, mountPath: /etc/greekstream/tokens, readOnly: true}
{{- end }}
{{- end -}}

{{/* Pod-level settings shared by every workload. */}}
{{- define "greekstream.podSpecCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
checkov skips, each with its reason (rendered as pod-template annotations):
CKV_K8S_35: settings are read from GREEKSTREAM_* variables (pydantic-settings), so secrets are
  env vars from secretKeyRef (never inlined); TLS keys and the tokens file are mounted files.
CKV_K8S_43: only while image.digest is empty: the tag is pinned to the chart's appVersion.
*/}}
{{- define "greekstream.checkovSkips" -}}
checkov.io/skip1: CKV_K8S_35=settings are GREEKSTREAM_* env vars; secrets come from secretKeyRef of existing Secrets, never inlined
{{- if not .Values.image.digest }}
checkov.io/skip2: CKV_K8S_43=image tag pinned to the chart appVersion; set image.digest to pull by digest
{{- end }}
{{- end -}}

{{/* Guard rails that a JSON schema cannot express (cross-field). */}}
{{- define "greekstream.validate" -}}
{{- $p := .Values.processor -}}
{{- $parts := int .Values.topics.partitions -}}
{{- if gt (int $p.replicaCount) $parts -}}
{{- fail (printf "processor.replicaCount (%d) > topics.partitions (%d): extra replicas would own no partition" (int $p.replicaCount) $parts) -}}
{{- end -}}
{{- if and $p.autoscaling.enabled (gt (int $p.autoscaling.maxReplicas) $parts) -}}
{{- fail (printf "processor.autoscaling.maxReplicas (%d) > topics.partitions (%d)" (int $p.autoscaling.maxReplicas) $parts) -}}
{{- end -}}
{{- if and $p.keda.enabled (gt (int $p.keda.maxReplicaCount) $parts) -}}
{{- fail (printf "processor.keda.maxReplicaCount (%d) > topics.partitions (%d)" (int $p.keda.maxReplicaCount) $parts) -}}
{{- end -}}
{{- if and $p.keda.enabled $p.autoscaling.enabled -}}
{{- fail "enable processor.keda or processor.autoscaling, not both (KEDA makes its own HPA)" -}}
{{- end -}}
{{- if and (gt (int .Values.sink.replicaCount) $parts) -}}
{{- fail (printf "sink.replicaCount (%d) > topics.partitions (%d)" (int .Values.sink.replicaCount) $parts) -}}
{{- end -}}
{{- /* serve's replays spool under /tmp, at most replay_spools x replay_spool_mb (the
     settings' defaults when null): past tmpSizeLimit the kubelet evicts the pod */ -}}
{{- $q := .Values.serve.settings.queries | default dict -}}
{{- $spoolMiB := mul (int ($q.replay_spools | default 6)) (int ($q.replay_spool_mb | default 128)) -}}
{{- $limit := .Values.serve.tmpSizeLimit | default "1Gi" -}}
{{- $n := regexFind "^[0-9]+" $limit | int64 -}}
{{- $unit := get (dict "Ki" 1 "Mi" 1024 "Gi" 1048576 "Ti" 1073741824) (trimPrefix (toString $n) $limit) | int64 -}}
{{- /* serve's SIGTERM waits for the requests in flight: a replay ends within
     replay_timeout_s (504), a query within connection_wait_s + query_timeout_s */ -}}
{{- /* (the grace period counts from the preStop sleep, before the SIGTERM) */ -}}
{{- $grace := subf (.Values.serve.terminationGracePeriodSeconds | default 30) (.Values.serve.preStopSleepSeconds | default 0) -}}
{{- $replay := $q.replay_timeout_s | default 120 | float64 -}}
{{- $query := addf ($q.connection_wait_s | default 5) ($q.query_timeout_s | default 30) -}}
{{- if or (le $grace $replay) (le $grace $query) -}}
{{- fail (printf "serve.terminationGracePeriodSeconds - serve.preStopSleepSeconds (%v) must be above serve.settings.queries.replay_timeout_s (%v) and connection_wait_s + query_timeout_s (%v): a longer request is killed mid-answer at every rollout" $grace $replay $query) -}}
{{- end -}}
{{- if ge (mul $spoolMiB 1024) (mul $n $unit) -}}
{{- fail (printf "serve.settings.queries: replay_spools x replay_spool_mb (%d MiB) must be below serve.tmpSizeLimit (%s): the pod is evicted when /tmp outgrows it" $spoolMiB $limit) -}}
{{- end -}}
{{- end -}}
