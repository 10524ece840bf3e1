{{/* Names */}}
{{- define "kubehero.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kubehero.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "kubehero.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "kubehero.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels: call with (dict "root" $ "component" "hub") */}}
{{- define "kubehero.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubehero.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "kubehero.labels" -}}
{{ include "kubehero.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: kubehero
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* metadata.annotations from commonAnnotations plus extra: (dict "root" $ "extra" dict) */}}
{{- define "kubehero.annotations" -}}
{{- $all := merge (dict) (.extra | default dict) .root.Values.commonAnnotations -}}
{{- with $all }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Image reference: (dict "root" $ "image" .Values.image.hub) */}}
{{- define "kubehero.image" -}}
{{- $registry := .root.Values.image.registry | trimSuffix "/" -}}
{{- $repo := .image.repository -}}
{{- $ref := ternary $repo (printf "%s/%s" $registry $repo) (empty $registry) -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $ref .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $ref (.image.tag | default .root.Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{- define "kubehero.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Where the agent runs. */}}
{{- define "kubehero.agentNamespace" -}}
{{- .Values.agent.namespace.name | default .Release.Namespace -}}
{{- end -}}

{{- define "kubehero.hubService" -}}
{{- printf "%s-hub" (include "kubehero.fullname" .) -}}
{{- end -}}

{{/* Hub replicas: explicit, else 2 with PostgreSQL and 1 with SQLite. */}}
{{- define "kubehero.hubReplicas" -}}
{{- if not (kindIs "invalid" .Values.hub.replicas) -}}
{{- .Values.hub.replicas -}}
{{- else if eq .Values.database.type "postgres" -}}
2
{{- else -}}
1
{{- end -}}
{{- end -}}

{{/* The hub's ingest as HOST:PORT for agents and the operator. */}}
{{- define "kubehero.hubIngestAddress" -}}
{{- if .Values.cloud.enabled -}}
{{- $endpoint := required "cloud.enabled needs cloud.hubEndpoint (https://HOST[:PORT] or HOST:PORT)" .Values.cloud.hubEndpoint -}}
{{- if contains "://" $endpoint -}}
{{- $url := urlParse $endpoint -}}
{{- if contains ":" $url.host -}}
{{- $url.host -}}
{{- else -}}
{{- printf "%s:%s" $url.host (ternary "80" "443" (eq $url.scheme "http")) -}}
{{- end -}}
{{- else -}}
{{- $endpoint -}}
{{- end -}}
{{- else -}}
{{- printf "%s.%s.svc:%v" (include "kubehero.hubService" .) .Release.Namespace .Values.hub.ingestPort -}}
{{- end -}}
{{- end -}}

{{/* The cluster bundle Secret's name, or nothing when no bundle was given. */}}
{{- define "kubehero.clusterCertSecret" -}}
{{- if .Values.cloud.existingSecret -}}
{{- .Values.cloud.existingSecret -}}
{{- else if .Values.cloud.clusterCert -}}
{{- printf "%s-cluster-cert" (include "kubehero.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "kubehero.hubPKISecret" -}}
{{- .Values.hub.pki.existingSecret | default (printf "%s-hub-pki" (include "kubehero.fullname" .)) -}}
{{- end -}}

{{- define "kubehero.operatorTLSSecret" -}}
{{- .Values.operator.webhook.existingSecret | default (printf "%s-operator-tls" (include "kubehero.fullname" .)) -}}
{{- end -}}

{{- define "kubehero.databaseSecret" -}}
{{- if .Values.database.postgres.cnpg.enabled -}}
{{- printf "%s-db-app" (include "kubehero.fullname" .) -}}
{{- else -}}
{{- .Values.database.postgres.existingSecret | default (printf "%s-database" (include "kubehero.fullname" .)) -}}
{{- end -}}
{{- end -}}

{{/* Restricted Pod Security Standard: pod and container security contexts. */}}
{{- define "kubehero.restrictedPodSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "kubehero.restrictedContainerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* PostgreSQL settings the hub and the migration Job share, as YAML (fromYaml). */}}
{{- define "kubehero.databaseSettings" -}}
{{- $pg := .Values.database.postgres -}}
{{- $cnpg := $pg.cnpg.enabled -}}
cluster: {{ printf "%s-db" (include "kubehero.fullname" .) }}
cnpg: {{ $cnpg }}
{{- if $cnpg }}
readURL: {{ and $pg.cnpg.readFromReplicas (gt (int $pg.cnpg.instances) 1) }}
{{- else if $pg.existingSecret }}
readURL: {{ $pg.existingSecretHasReadUrl }}
{{- else }}
readURL: {{ not (empty $pg.readUrl) }}
{{- end }}
tlsMode: {{ $pg.tls.mode | default (ternary "verify-full" "" $cnpg) | quote }}
caSecret: {{ $pg.tls.caSecret | default (ternary (printf "%s-db-ca" (include "kubehero.fullname" .)) "" $cnpg) | quote }}
clientCertSecret: {{ $pg.tls.clientCertSecret | quote }}
{{- end -}}

{{/* The database URLs as environment variables (never in the pod spec in clear). */}}
{{- define "kubehero.databaseEnv" -}}
{{- $db := include "kubehero.databaseSettings" . | fromYaml -}}
{{- $secret := include "kubehero.databaseSecret" . -}}
- name: KUBEHERO_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ ternary "uri" "url" $db.cnpg }}
{{- if $db.readURL }}
{{- if $db.cnpg }}
# CloudNativePG's standbys behind its -ro service, with the app user's credentials.
- name: KUBEHERO_DATABASE_USER
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: username
- name: KUBEHERO_DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: password
- name: KUBEHERO_DATABASE_READ_URL
  value: {{ printf "postgresql://$(KUBEHERO_DATABASE_USER):$(KUBEHERO_DATABASE_PASSWORD)@%s-ro.%s:5432/kubehero" $db.cluster .Release.Namespace | quote }}
{{- else }}
- name: KUBEHERO_DATABASE_READ_URL
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: readUrl
{{- end }}
{{- end }}
{{- end -}}

{{/* TLS flags to the database: (dict "root" $ "client" true) - `migrate` takes no client certificate. */}}
{{- define "kubehero.databaseTLSArgs" -}}
{{- $db := include "kubehero.databaseSettings" .root | fromYaml -}}
{{- with $db.tlsMode }}
- --database-tls={{ . }}
{{- end }}
{{- if $db.caSecret }}
- --database-ca-file=/etc/kubehero/db-ca/ca.crt
{{- end }}
{{- if and .client $db.clientCertSecret }}
- --database-cert=/etc/kubehero/db-client/tls.crt
- --database-key=/etc/kubehero/db-client/tls.key
{{- end }}
{{- end -}}

{{- define "kubehero.databaseTLSMounts" -}}
{{- $db := include "kubehero.databaseSettings" . | fromYaml -}}
{{- if $db.caSecret }}
- name: db-ca
  mountPath: /etc/kubehero/db-ca
  readOnly: true
{{- end }}
{{- if $db.clientCertSecret }}
- name: db-client
  mountPath: /etc/kubehero/db-client
  readOnly: true
{{- end }}
{{- end -}}

{{- define "kubehero.databaseTLSVolumes" -}}
{{- $db := include "kubehero.databaseSettings" . | fromYaml -}}
{{- if $db.caSecret }}
# Only the CA certificate (CloudNativePG's CA Secret also holds the CA's key).
- name: db-ca
  secret:
    secretName: {{ $db.caSecret }}
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- if $db.clientCertSecret }}
- name: db-client
  secret:
    secretName: {{ $db.clientCertSecret }}
    defaultMode: 0440
{{- end }}
{{- end -}}
