{{/* The release's base name: <release>, or <release>-quell. */}}
{{- define "quell.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "quell.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object; "component" is server or sensor when given. */}}
{{- define "quell.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
{{ include "quell.selector" . }}
{{- end -}}

{{- define "quell.selector" -}}
app.kubernetes.io/name: {{ include "quell.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}

{{- define "quell.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* Names of the Secrets the pods read. */}}
{{- define "quell.postgresSecret" -}}
{{- .Values.postgres.existingSecret | default (printf "%s-postgres" (include "quell.fullname" .)) -}}
{{- end -}}
{{- define "quell.tokensSecret" -}}
{{- .Values.auth.existingSecret | default (printf "%s-tokens" (include "quell.fullname" .)) -}}
{{- end -}}
{{- define "quell.notifySecret" -}}
{{- .Values.notify.existingSecret | default (printf "%s-notify" (include "quell.fullname" .)) -}}
{{- end -}}

{{- define "quell.scheme" -}}
{{- if .Values.tls.existingSecret }}https{{ else }}http{{ end -}}
{{- end -}}

{{/* The server's in-cluster URL, as the sensor and the audit webhook reach it. */}}
{{- define "quell.serverURL" -}}
{{ include "quell.scheme" . }}://{{ include "quell.fullname" . }}.{{ .Release.Namespace }}.svc:{{ .Values.server.service.port }}
{{- end -}}

{{/* The rules of a generated files/rbac file (internal/deploy). */}}
{{- define "quell.rules" -}}
{{- .root.Files.Get (printf "files/rbac/%s.yaml" .file) | fromYamlArray | toYaml -}}
{{- end -}}

{{- define "quell.podSecurity" -}}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Refuse combinations that cannot work. */}}
{{- define "quell.validate" -}}
{{- if and .Values.sqlite.enabled (gt (int .Values.server.replicas) 1) -}}
{{- fail "sqlite.enabled keeps the store in one pod: set server.replicas=1, or use PostgreSQL (postgres.dsn or postgres.existingSecret)" -}}
{{- end -}}
{{- if and .Values.sqlite.enabled (or .Values.postgres.dsn .Values.postgres.existingSecret) -}}
{{- fail "sqlite.enabled and postgres.* both set: choose one store" -}}
{{- end -}}
{{- if and (not .Values.ha.enabled) (gt (int .Values.server.replicas) 1) -}}
{{- fail "server.replicas > 1 needs ha.enabled: without leader election every replica would respond" -}}
{{- end -}}
{{- end -}}

{{/* "true" when any response may use jit credentials: response.credentials,
or a playbook's credentials (the engine honours both). */}}
{{- define "quell.jit" -}}
{{- $jit := eq .Values.response.credentials "jit" -}}
{{- range $name, $body := .Values.playbooks -}}
{{- $doc := $body -}}
{{- if kindIs "string" $body }}{{ $doc = fromYaml $body }}{{ end -}}
{{- range $doc.playbooks -}}
{{- if eq (toString .credentials) "jit" }}{{ $jit = true }}{{ end -}}
{{- end -}}
{{- end -}}
{{- if $jit }}true{{ end -}}
{{- end -}}
