{{/*
Name of the chart, overridable so two charts of the same name can coexist.
*/}}
{{- define "helpdesk-sla-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name, truncated at 63 characters because some Kubernetes name fields are
limited to a DNS label. If the release name contains the chart name it is used as is.
*/}}
{{- define "helpdesk-sla-exporter.fullname" -}}
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

{{/*
Chart name and version for the helm.sh/chart label.
*/}}
{{- define "helpdesk-sla-exporter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Namespace of every object, overridable for umbrella charts.
*/}}
{{- define "helpdesk-sla-exporter.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride }}
{{- end }}

{{/*
Labels on every object: the selector labels, chart bookkeeping and the user's commonLabels.
*/}}
{{- define "helpdesk-sla-exporter.labels" -}}
helm.sh/chart: {{ include "helpdesk-sla-exporter.chart" . }}
{{ include "helpdesk-sla-exporter.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: helpdesk-sla-exporter
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels. These are immutable on a Deployment or StatefulSet, so nothing user-set goes here.
*/}}
{{- define "helpdesk-sla-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "helpdesk-sla-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Service account name.
*/}}
{{- define "helpdesk-sla-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "helpdesk-sla-exporter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference; the tag defaults to the chart's appVersion.
*/}}
{{- define "helpdesk-sla-exporter.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s/%s@%s" .Values.image.registry .Values.image.repository .Values.image.digest }}
{{- else if .Values.image.registry }}
{{- printf "%s/%s:%s" .Values.image.registry .Values.image.repository $tag }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
Name of the Secret holding API credentials: the user's existingSecret or the chart's own.
*/}}
{{- define "helpdesk-sla-exporter.secretName" -}}
{{- default (include "helpdesk-sla-exporter.fullname" .) .Values.existingSecret }}
{{- end }}

{{/*
Whether the pod mounts API credentials. Demo mode needs none.
*/}}
{{- define "helpdesk-sla-exporter.mountsSecret" -}}
{{- if not .Values.demo.enabled }}true{{ end }}
{{- end }}

{{/*
Whether the chart renders its own Secret: not in demo mode and not when the user brings one.
*/}}
{{- define "helpdesk-sla-exporter.createSecret" -}}
{{- if and (not .Values.demo.enabled) (not .Values.existingSecret) }}true{{ end }}
{{- end }}

{{/*
Fixed paths inside the container. They are part of the chart's interface: the exporter config
refers to credential files by these paths (api_key_file).
*/}}
{{- define "helpdesk-sla-exporter.configDir" -}}/etc/helpdesk-sla-exporter{{- end }}
{{- define "helpdesk-sla-exporter.configFile" -}}/etc/helpdesk-sla-exporter/config.yml{{- end }}

{{/*
Whether the Prometheus Operator CRDs are known to the cluster (or to `helm template --api-versions`).
*/}}
{{- define "helpdesk-sla-exporter.hasMonitoringAPI" -}}
{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" }}true{{ end }}
{{- end }}
{{- define "helpdesk-sla-exporter.secretDir" -}}/run/secrets/helpdesk-sla-exporter{{- end }}

{{/*
The exporter's base URL for links to /items (alerts' items_url, the overview dashboard's
exporter_url): prometheusRule.itemsBaseUrl, or the Service's in-cluster address.
*/}}
{{- define "helpdesk-sla-exporter.itemsBaseUrl" -}}
{{- .Values.prometheusRule.itemsBaseUrl | default (printf "http://%s.%s.svc:%v" (include "helpdesk-sla-exporter.fullname" .) (include "helpdesk-sla-exporter.namespace" .) .Values.service.port) | trimSuffix "/" }}
{{- end }}

{{/*
A liveness or readiness probe as configured, adapted to the web config: with basic auth an HTTP
probe becomes a TCP check of the same port (the kubelet cannot send a secret header), with TLS it
uses HTTPS. Call with (dict "probe" .Values.livenessProbe "web" .Values.web).
*/}}
{{- define "helpdesk-sla-exporter.probe" -}}
{{- $p := deepCopy .probe }}
{{- if hasKey $p "httpGet" }}
{{- if .web.basicAuth }}
{{- $_ := set $p "tcpSocket" (dict "port" $p.httpGet.port) }}
{{- $_ := unset $p "httpGet" }}
{{- else if .web.tls }}
{{- $_ := set $p.httpGet "scheme" "HTTPS" }}
{{- end }}
{{- end }}
{{- toYaml $p }}
{{- end }}

{{- define "helpdesk-sla-exporter.webDir" -}}/etc/helpdesk-sla-exporter/web{{- end }}
