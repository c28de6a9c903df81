{{/*
Names. KubeRay derives more names from a RayCluster's name (pods NAME-head-xxxxx, the head
Service NAME-head-svc, cut from the front past 50 characters), so the Ray names are kept
short enough that the head Service name stays the one the API is told to connect to.
*/}}
{{- define "forecaster.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "forecaster.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* FULLNAME-SUFFIX within 63 characters, cutting FULLNAME; call with (list $ "suffix"). */}}
{{- define "forecaster.nameWith" -}}
{{- $suffix := index . 1 }}
{{- printf "%s-%s" (include "forecaster.fullname" (index . 0) | trunc (int (sub 62 (len $suffix))) | trimSuffix "-") $suffix }}
{{- end }}

{{/* The long-lived RayCluster (at most 37 characters) and the head Service KubeRay makes for it. */}}
{{- define "forecaster.rayClusterName" -}}
{{- printf "%s-ray" (include "forecaster.fullname" . | trunc 33 | trimSuffix "-") }}
{{- end }}

{{- define "forecaster.rayHeadService" -}}
{{- printf "%s-head-svc" (include "forecaster.rayClusterName" .) }}
{{- end }}

{{/* The batch RayJob (at most 40 characters; KubeRay appends 6 for its RayCluster). */}}
{{- define "forecaster.rayJobName" -}}
{{- printf "%s-batch-%s" (include "forecaster.fullname" . | trunc 21 | trimSuffix "-") .Values.batch.name }}
{{- end }}

{{/* Volumes: the API's data directory, and the batch outputs (one claim for all runs). */}}
{{- define "forecaster.dataClaimName" -}}
{{- .Values.persistence.existingClaim | default (include "forecaster.nameWith" (list . "data")) }}
{{- end }}

{{/* "true" when /data holds nothing that must last (jobs in PostgreSQL, results in object
storage): each API pod then caches files in an emptyDir instead of sharing a claim. */}}
{{- define "forecaster.dataIsCache" -}}
{{- if and .Values.results.url .Values.database.existingSecret }}true{{ end }}
{{- end }}

{{- define "forecaster.batchClaimName" -}}
{{- .Values.batch.persistence.existingClaim | default (include "forecaster.nameWith" (list . "batch")) }}
{{- end }}

{{- define "forecaster.secretName" -}}
{{- .Values.auth.existingSecret | default (include "forecaster.fullname" .) }}
{{- end }}

{{- define "forecaster.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
Labels. Objects the chart writes carry the standard app.kubernetes.io labels. Ray pods do
NOT get app.kubernetes.io/name: KubeRay sets it to "kuberay" and selects head pods by it,
so they are told apart by instance, part-of and component instead.
*/}}
{{- define "forecaster.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "forecaster.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: {{ include "forecaster.name" . }}
{{- end }}

{{- define "forecaster.selectorLabels" -}}
app.kubernetes.io/name: {{ include "forecaster.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Selector of the API pods. */}}
{{- define "forecaster.apiSelectorLabels" -}}
{{ include "forecaster.selectorLabels" . }}
app.kubernetes.io/component: api
{{- end }}

{{/* Labels of Ray pods; call with (dict "root" $ "component" "ray" | "ray-batch"). */}}
{{- define "forecaster.rayPodLabels" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/part-of: {{ include "forecaster.name" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Security. Every pod runs as the image's unprivileged user (uid 1000) under the
RuntimeDefault seccomp profile, with no privilege escalation and no capabilities: the
"restricted" Pod Security Standard. The API's root filesystem is read-only as well; Ray
containers keep theirs writable because Ray and `ray job submit` write outside /tmp/ray.
*/}}
{{- define "forecaster.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
fsGroup: 1000
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Container security context; call with (dict "readOnlyRootFilesystem" true|false). */}}
{{- define "forecaster.securityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: {{ .readOnlyRootFilesystem }}
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Ray token auth: every process that talks to Ray reads these at import. */}}
{{- define "forecaster.rayAuthEnv" -}}
- name: RAY_AUTH_MODE
  value: token
- name: RAY_AUTH_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "forecaster.secretName" . }}
      key: auth_token
{{- end }}

{{/* Requests equal to limits, as Ray advises for its pods; call with a {cpu, memory} map. */}}
{{- define "forecaster.equalResources" -}}
requests:
  cpu: {{ .cpu | quote }}
  memory: {{ .memory | quote }}
limits:
  cpu: {{ .cpu | quote }}
  memory: {{ .memory | quote }}
{{- end }}

{{/* Scheduling constraints shared by all Ray pods (and the batch submitter). */}}
{{- define "forecaster.rayScheduling" -}}
{{- with .Values.ray.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.ray.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
The spec shared by the long-lived RayCluster and the batch RayJob's cluster.
Call with (dict "root" $ "component" "ray"|"ray-batch"). The batch cluster has a fixed
number of workers, and its head also mounts the batch file and the output volume.
*/}}
{{- define "forecaster.rayClusterSpec" -}}
{{- $root := .root }}
{{- $batch := eq .component "ray-batch" }}
{{- $podLabels := include "forecaster.rayPodLabels" . -}}
rayVersion: {{ $root.Values.ray.version | quote }}
# Token auth with the chart's Secret (key auth_token): KubeRay then creates no Secret of
# its own; the containers below also set the variables themselves, so the API, the job
# submitter and every Ray process share one token whatever the operator injects.
authOptions:
  mode: token
  secretName: {{ include "forecaster.secretName" $root }}
{{- with $root.Values.ray.gcsFaultTolerance }}
{{- if and .enabled (not $batch) }}
{{- if not .redisAddress }}
{{- fail "ray.gcsFaultTolerance.enabled needs ray.gcsFaultTolerance.redisAddress" }}
{{- end }}
# The head keeps its state in Redis: a restarted head finds its workers and tasks again.
gcsFaultToleranceOptions:
  redisAddress: {{ .redisAddress | quote }}
  {{- if .redisPasswordSecret }}
  redisPassword:
    valueFrom:
      secretKeyRef: {name: {{ .redisPasswordSecret }}, key: {{ .redisPasswordKey }}}
  {{- end }}
{{- end }}
{{- end }}
{{- if not $batch }}
enableInTreeAutoscaling: true
autoscalerOptions:
  upscalingMode: Default
  idleTimeoutSeconds: {{ $root.Values.ray.worker.idleTimeoutSeconds }}
  resources:
    {{- include "forecaster.equalResources" $root.Values.ray.autoscaler.resources | nindent 4 }}
  securityContext:
    {{- include "forecaster.securityContext" (dict "readOnlyRootFilesystem" false) | nindent 4 }}
# A new image or Ray version recreates all Ray pods, so the API (Ray Client) and the
# cluster never run different Ray versions, which Ray Client refuses.
upgradeStrategy:
  type: Recreate
{{- end }}
headGroupSpec:
  # ClusterIP and no Ingress: the dashboard and the client port stay inside the cluster.
  serviceType: ClusterIP
  enableIngress: false
  rayStartParams:
    num-cpus: "0"
    dashboard-host: "0.0.0.0"
  template:
    metadata:
      labels:
        {{- $podLabels | nindent 8 }}
    spec:
      automountServiceAccountToken: {{ not $batch }}
      securityContext:
        {{- include "forecaster.podSecurityContext" $root | nindent 8 }}
      {{- with include "forecaster.rayScheduling" $root | trim }}{{ . | nindent 6 }}{{ end }}
      containers:
        - name: ray-head
          image: {{ include "forecaster.image" $root }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          ports:
            - {name: gcs-server, containerPort: 6379}
            - {name: dashboard, containerPort: 8265}
            - {name: client, containerPort: 10001}
            - {name: metrics, containerPort: 8080}
          env:
            {{- include "forecaster.rayAuthEnv" $root | nindent 12 }}
            {{- if $batch }}
            # The batch driver runs here and joins this node's Ray.
            - name: FORECASTER_RAY_ADDRESS
              value: auto
            {{- end }}
            - name: MPLCONFIGDIR
              value: /tmp/matplotlib
          resources:
            {{- include "forecaster.equalResources" $root.Values.ray.head.resources | nindent 12 }}
          securityContext:
            {{- include "forecaster.securityContext" (dict "readOnlyRootFilesystem" false) | nindent 12 }}
          volumeMounts:
            - {name: ray-tmp, mountPath: /tmp/ray}
            {{- if $batch }}
            - {name: scenarios, mountPath: /config, readOnly: true}
            - {name: batch-data, mountPath: /data}
            {{- end }}
      volumes:
        # Ray's session directory: logs, sockets and spilled objects.
        - {name: ray-tmp, emptyDir: {}}
        {{- if $batch }}
        - name: scenarios
          configMap:
            name: {{ include "forecaster.rayJobName" $root }}
        - name: batch-data
          persistentVolumeClaim:
            claimName: {{ include "forecaster.batchClaimName" $root }}
        {{- end }}
workerGroupSpecs:
  - groupName: workers
    {{- if $batch }}
    replicas: {{ $root.Values.batch.workers }}
    minReplicas: {{ $root.Values.batch.workers }}
    maxReplicas: {{ $root.Values.batch.workers }}
    {{- else }}
    # No `replicas`: the autoscaler owns the count, between these bounds, and a
    # `helm upgrade` does not reset it.
    minReplicas: {{ $root.Values.ray.worker.minReplicas }}
    maxReplicas: {{ $root.Values.ray.worker.maxReplicas }}
    {{- end }}
    rayStartParams: {}
    template:
      metadata:
        labels:
          {{- $podLabels | nindent 10 }}
      spec:
        automountServiceAccountToken: false
        securityContext:
          {{- include "forecaster.podSecurityContext" $root | nindent 10 }}
        {{- with include "forecaster.rayScheduling" $root | trim }}{{ . | nindent 8 }}{{ end }}
        containers:
          - name: ray-worker
            image: {{ include "forecaster.image" $root }}
            imagePullPolicy: {{ $root.Values.image.pullPolicy }}
            ports:
              - {name: metrics, containerPort: 8080}
            env:
              {{- include "forecaster.rayAuthEnv" $root | nindent 14 }}
              - name: MPLCONFIGDIR
                value: /tmp/matplotlib
            resources:
              {{- include "forecaster.equalResources" $root.Values.ray.worker.resources | nindent 14 }}
            securityContext:
              {{- include "forecaster.securityContext" (dict "readOnlyRootFilesystem" false) | nindent 14 }}
            volumeMounts:
              - {name: ray-tmp, mountPath: /tmp/ray}
        volumes:
          - {name: ray-tmp, emptyDir: {}}
{{- end }}
