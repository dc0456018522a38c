{{/*
A Deployment of one long-running component. Call with
(dict "root" $ "component" "processor" "args" (list "process") "probes" $probes).
*/}}
{{- define "greekstream.deployment" -}}
{{- $root := .root -}}
{{- $c := get $root.Values .component -}}
{{- $port := int $c.settings.http.port -}}
{{- $ctx := dict "root" $root "component" .component -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "greekstream.fullname" $root }}-{{ .component }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "greekstream.labels" $ctx | nindent 4 }}
  annotations:
    {{- include "greekstream.checkovSkips" $root | nindent 4 }}
spec:
  {{- if not (or (and $c.autoscaling $c.autoscaling.enabled) (and $c.keda $c.keda.enabled)) }}
  replicas: {{ $c.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  {{- if eq .component "processor" }}
  # one processor at a time: each change is a rebalance of the group, and an old pod stops
  # only once its replacement has restored (ready)
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  {{- end }}
  selector:
    matchLabels:
      {{- include "greekstream.selectorLabels" $ctx | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "greekstream.labels" $ctx | nindent 8 }}
        {{- with $root.Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/config: {{ include "greekstream.configData" $ctx | sha256sum }}
        {{- if has .component (list "processor" "serve") }}
        {{- /* the scenario and returns files are read at start: a changed file rolls the pods */}}
        checksum/files: {{ list $root.Values.processor.scenarios $root.Values.processor.returns | toJson | sha256sum }}
        {{- end }}
        {{- if eq .component "processor" }}
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ $port | quote }}
        prometheus.io/path: /metrics
        {{- end }}
        {{- with $root.Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "greekstream.serviceAccountName" $root }}
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: {{ $c.terminationGracePeriodSeconds | default 30 }}
      {{- include "greekstream.podSpecCommon" $root | nindent 6 }}
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              {{- include "greekstream.selectorLabels" $ctx | nindent 14 }}
      containers:
        - name: {{ .component }}
          image: {{ include "greekstream.image" $root | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: {{ toJson .args }}
          ports:
            - name: http
              containerPort: {{ $port }}
              protocol: TCP
          envFrom:
            - configMapRef:
                name: {{ include "greekstream.fullname" $root }}-{{ .component }}
          {{- with (include "greekstream.secretEnv" $ctx | trim) }}
          env:
            {{- . | nindent 12 }}
          {{- end }}
          {{- toYaml .probes | nindent 10 }}
          {{- if and (eq .component "serve") $c.preStopSleepSeconds }}
          # keep answering while the endpoint's removal reaches every proxy and ingress,
          # then SIGTERM (requests in flight finish): a rollout refuses no new request
          lifecycle:
            preStop:
              sleep: {seconds: {{ int $c.preStopSleepSeconds }}}
          {{- end }}
          resources:
            {{- toYaml $c.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            {{- include "greekstream.volumeMounts" $ctx | nindent 12 }}
      volumes:
        {{- include "greekstream.volumes" $ctx | nindent 8 }}
{{- end -}}

{{/*
A pre-install/pre-upgrade hook Job (topics, migrations). Its settings are inline env vars:
hooks run before the release's ConfigMaps exist. Call with
(dict "root" $ "component" "topics" "args" (list ...) "weight" "-10").
*/}}
{{- define "greekstream.hookJob" -}}
{{- $root := .root -}}
{{- $ctx := dict "root" $root "component" .component -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "greekstream.fullname" $root }}-{{ .component }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "greekstream.labels" $ctx | nindent 4 }}
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: {{ .weight | quote }}
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
    {{- include "greekstream.checkovSkips" $root | nindent 4 }}
spec:
  backoffLimit: {{ $root.Values.hooks.backoffLimit }}
  activeDeadlineSeconds: {{ $root.Values.hooks.activeDeadlineSeconds }}
  ttlSecondsAfterFinished: 3600
  template:
    metadata:
      labels:
        {{- include "greekstream.labels" $ctx | nindent 8 }}
    spec:
      restartPolicy: Never
      # hooks run before the release's ServiceAccount exists: the namespace default, no token
      automountServiceAccountToken: false
      {{- include "greekstream.podSpecCommon" $root | nindent 6 }}
      containers:
        - name: {{ .component }}
          image: {{ include "greekstream.image" $root | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: {{ toJson .args }}
          env:
            {{- range $name, $value := (include "greekstream.configData" $ctx | fromYaml) }}
            - name: {{ $name }}
              value: {{ $value | quote }}
            {{- end }}
            {{- include "greekstream.secretEnv" $ctx | nindent 12 }}
          resources:
            {{- toYaml $root.Values.hooks.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            {{- include "greekstream.volumeMounts" $ctx | nindent 12 }}
      volumes:
        {{- include "greekstream.volumes" $ctx | nindent 8 }}
{{- end -}}
