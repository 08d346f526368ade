{{/*
The pod template shared by the Deployment and the StatefulSet, so the two workloads can never
drift apart. The caller supplies the storage volume (emptyDir, claim or volumeClaimTemplate).
*/}}
{{- define "helpdesk-sla-exporter.podTemplate" -}}
metadata:
  labels:
    {{- include "helpdesk-sla-exporter.labels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- /* Roll the pod when the config or the chart's Secret changes, so a helm upgrade always takes effect. */}}
  {{- $annotations := dict }}
  {{- if not .Values.demo.enabled }}
  {{- $_ := set $annotations "checksum/config" (include (print $.Template.BasePath "/configmap.yaml") . | sha256sum) }}
  {{- end }}
  {{- if include "helpdesk-sla-exporter.createSecret" . }}
  {{- $_ := set $annotations "checksum/secret" (include (print $.Template.BasePath "/secret.yaml") . | sha256sum) }}
  {{- end }}
  {{- $annotations = merge $annotations (.Values.podAnnotations | default dict) }}
  {{- with $annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ include "helpdesk-sla-exporter.serviceAccountName" . }}
  automountServiceAccountToken: {{ .Values.serviceAccount.automountServiceAccountToken }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with .Values.podSecurityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  containers:
    - name: exporter
      image: {{ include "helpdesk-sla-exporter.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        {{- if .Values.demo.enabled }}
        - --demo
        {{- else }}
        - --config.file={{ include "helpdesk-sla-exporter.configFile" . }}
        {{- end }}
        - --web.listen-address=:10042
        - --storage.path={{ .Values.persistence.mountPath }}
        - --log.level={{ .Values.log.level }}
        - --log.format={{ .Values.log.format }}
        {{- if gt (int .Values.shards) 1 }}
        {{- /* No --shard.index: each pod takes its StatefulSet ordinal from its hostname. */}}
        - --shard.count={{ int .Values.shards }}
        {{- end }}
        {{- if .Values.web.enableLifecycle }}
        - --web.enable-lifecycle
        {{- end }}
        {{- with .Values.web.configSecret }}
        - --web.config.file={{ include "helpdesk-sla-exporter.webDir" $ }}/{{ $.Values.web.configSecretKey }}
        {{- end }}
        {{- range .Values.extraArgs }}
        - {{ . | quote }}
        {{- end }}
      {{- with .Values.extraEnv }}
      env:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      ports:
        - name: http
          containerPort: 10042
          protocol: TCP
      {{- with .Values.livenessProbe }}
      livenessProbe:
        {{- include "helpdesk-sla-exporter.probe" (dict "probe" . "web" $.Values.web) | nindent 8 }}
      {{- end }}
      {{- with .Values.readinessProbe }}
      readinessProbe:
        {{- include "helpdesk-sla-exporter.probe" (dict "probe" . "web" $.Values.web) | nindent 8 }}
      {{- end }}
      {{- with .Values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.securityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        {{- if not .Values.demo.enabled }}
        - name: config
          mountPath: {{ include "helpdesk-sla-exporter.configDir" . }}
          readOnly: true
        {{- end }}
        {{- if include "helpdesk-sla-exporter.mountsSecret" . }}
        - name: credentials
          mountPath: {{ include "helpdesk-sla-exporter.secretDir" . }}
          readOnly: true
        {{- end }}
        {{- if .Values.web.configSecret }}
        - name: web-config
          mountPath: {{ include "helpdesk-sla-exporter.webDir" . }}
          readOnly: true
        {{- end }}
        - name: storage
          mountPath: {{ .Values.persistence.mountPath }}
        {{- /* The root filesystem is read-only; SQLite puts temporary files (sorts, vacuum) in /tmp. */}}
        - name: tmp
          mountPath: /tmp
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    {{- if not .Values.demo.enabled }}
    - name: config
      configMap:
        name: {{ include "helpdesk-sla-exporter.fullname" . }}
    {{- end }}
    {{- if include "helpdesk-sla-exporter.mountsSecret" . }}
    - name: credentials
      secret:
        secretName: {{ include "helpdesk-sla-exporter.secretName" . }}
        {{- /* Group-readable only: fsGroup 65534 owns the files, so the exporter reads them and nobody else does. */}}
        defaultMode: 0440
    {{- end }}
    {{- with .Values.web.configSecret }}
    - name: web-config
      secret:
        secretName: {{ . }}
        defaultMode: 0440
    {{- end }}
    {{- if not .Values.persistence.enabled }}
    - name: storage
      emptyDir:
        {{- with .Values.persistence.emptyDir.sizeLimit }}
        sizeLimit: {{ . }}
        {{- end }}
    {{- else if .Values.persistence.existingClaim }}
    - name: storage
      persistentVolumeClaim:
        claimName: {{ .Values.persistence.existingClaim }}
    {{- end }}
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
