{{- define "ferroflink.labels" -}}
app.kubernetes.io/name: ferroflink-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "ferroflink.selector" -}}
app.kubernetes.io/name: ferroflink-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ferroflink.fullname" -}}
{{ .Release.Name }}-operator
{{- end }}
