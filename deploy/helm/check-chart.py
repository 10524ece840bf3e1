#!/usr/bin/env python3
"""Checks the Helm chart deploy/helm/kubehero without a cluster, a network or a helm binary.

What it does (each step fails the run with a line naming the object, field or value):

1. Lints the chart (Helm's own linter, through `helm_python`, the Helm v4 Go SDK in a wheel).
2. Renders it for every `helm install` command in docs/helm.md - among them the two the chart
   promises (defaults + air-gap overlay; edge agent with operator) - and for a few more value
   sets that switch every feature on, the way the helm CLI composes -f, --set and --set-file.
3. Validates every rendered object against the Kubernetes JSON schemas (kubernetes-validate,
   strict: unknown fields are errors) of the oldest and newest Kubernetes the chart supports.
   Objects of CRDs (CloudNativePG, Prometheus operator) have no upstream schema and are
   skipped with the reason printed; BudgetPolicy documents are validated against our CRD.
4. Checks every container: requests and limits for CPU and memory, a securityContext, a
   read-only root filesystem; every pod but the agent's meets the restricted Pod Security
   Standard; air-gap renders use images by digest from the given registry.
5. Checks that every metric the alert rules and the dashboard use is exported by the hub or
   the agent (read from Sources/), and that the alerts the chart promises are there.
6. Checks what the chart wires against the binaries' sources: every command line of the hub,
   the agent, the operator and the migration Job (and each `kubehero-hub` call in an init
   script) parses as the real subcommand's options (read from Sources/kubehero-hub and
   Sources/kubehero-agent); with PostgreSQL the hub gets --database from the right Secret, runs
   2 replicas and no volume, with SQLite 1 replica on its PVC; the webhook calls the operator's
   Service on the port and path the operator serves, with its CA, Ignore on failure and the
   system namespaces excluded.
7. Checks that no value is ignored: every leaf of values.yaml, and every value docs/helm.md
   names, changes the rendered output of some value set when changed.

Usage: check-chart.py [--chart DIR] [--docs FILE] [--quick]   (--quick skips step 7)
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import re
import shlex
import ssl
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import yaml

# libyaml when PyYAML has it (ten times faster: the values check renders hundreds of times).
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy/helm/kubehero"
DOCS = ROOT / "docs/helm.md"

# Kubernetes versions the chart supports (Chart.yaml kubeVersion), oldest and newest.
KUBE_VERSIONS = ["1.29.0", "1.37.0"]

# The two commands the chart must accept exactly as written (issue 9); docs/helm.md has them.
PROMISED_COMMANDS = [
    "helm install kubehero deploy/helm/kubehero -f deploy/helm/kubehero/values.yaml "
    "-f deploy/helm/kubehero/values.airgap.yaml --set image.registry=registry.internal.acme.com "
    "--set imagePullSecrets[0].name=acme-regcred",
    "helm install kubehero-agent kubehero/kubehero --namespace kubehero-system --create-namespace "
    "--set controlPlane.enabled=false --set operator.enabled=true --set dashboard.enabled=false "
    "--set cloud.enabled=true --set cloud.hubEndpoint=https://ingress.kubehero.internal "
    "--set-file cloud.clusterCert=./cluster-cert.pem",
]

# Alerts the chart promises (issue 9), by the part that must be on for them.
PROMISED_ALERTS = {
    "hub": ["KubeHeroHubDown", "KubeHeroPolicyEvaluationSlow"],
    "postgres": ["KubeHeroDatabasePoolSaturated"],
    "agent": ["KubeHeroAgentSilent", "KubeHeroAgentDown"],
}
# Namespaces the admission webhook must never apply to.
WEBHOOK_EXCLUDED = {"kube-system", "kubehero-system"}

# Kinds with no upstream schema: validated elsewhere or skipped, with the reason.
NO_UPSTREAM_SCHEMA = {
    ("postgresql.cnpg.io/v1", "Cluster"): "CloudNativePG CRD; its schema ships with the CNPG operator, not with Kubernetes",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "Prometheus operator CRD; not in the Kubernetes schemas",
    ("monitoring.coreos.com/v1", "PodMonitor"): "Prometheus operator CRD; not in the Kubernetes schemas",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "Prometheus operator CRD; rule metrics are checked against Sources/ instead",
}

# The BudgetPolicy from issue 8, and documents the CRD must refuse.
BUDGET_POLICY = """
apiVersion: kubehero.kubehero.io/v1
kind: BudgetPolicy
metadata: { name: all-prod-ceiling }
spec:
  scope:
    clusterSelector:
      matchLabels: { env: prod }
      matchExpressions: [ { key: tier, operator: In, values: [gold] } ]
    namespaceSelector: { matchNames: [payments, search] }
    podSelector: { matchLabels: { team: ml } }
  ceiling: "$500000/mo"
  period: calendar
  thresholds:
    - { percent: 80, basis: actual }
    - { percent: 100, basis: forecast }
  alertChannels: [ { webhook: "https://hooks.example.com/x" } ]
  hardStop: true
  humanArm: true
"""
BAD_BUDGET_POLICIES = {
    "ceiling 500k": ("spec", "ceiling", "500k"),
    "negative ceiling": ("spec", "ceiling", "$-5/mo"),
    "unknown basis": ("spec", "thresholds", [{"percent": 80, "basis": "guess"}]),
    "unknown selector operator": ("spec", "scope", {"clusterSelector": {"matchExpressions": [{"key": "a", "operator": "Like"}]}}),
}

# Value sets beyond the docs' commands, so that every feature is rendered and validated.
EXTRA_SCENARIOS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "everything-on (postgres via CNPG, ingress, operator, eBPF, monitoring, network policies)": (
        "kubehero", "kubehero-system", {
            "database": {"type": "postgres", "postgres": {"cnpg": {"enabled": True}}},
            "hub": {"ingress": {"enabled": True, "apiHost": "api.kubehero.internal"}, "plainHTTP": False, "auditKeys": {"existingSecret": "hub-audit"},
                    "pki": {"extraServerNames": ["hub.example.com", "10.0.0.7"]}, "extraArgs": ["--log-level=debug"]},
            "pricing": {"catalog": '{"version": 1}', "refresh": {"enabled": True, "source": "https://prices.internal/catalog.json"}},
            "operator": {"enabled": True},
            "agent": {"bpf": {"mode": "auto"}, "kubelet": {"insecureSkipVerify": True, "grantNodesProxy": True}, "extraArgs": ["--tick=2s"]},
            "networkPolicies": {"enabled": True, "hubIngressFrom": [{"namespaceSelector": {}}]},
            "monitoring": {"serviceMonitor": {"enabled": True}, "prometheusRules": {"enabled": True}},
            "cloud": {"clusterCert": "@fixture"},
            "commonLabels": {"team": "platform"}, "commonAnnotations": {"owner": "platform"},
        }),
    "external postgres, privileged agent, plain HTTP, no spool": (
        "kh", "monitoring", {
            "database": {"type": "postgres", "postgres": {"url": "postgres://hub@db:5432/kubehero", "readUrl": "postgres://hub@db-ro:5432/kubehero",
                                                          "tls": {"mode": "verify-full", "caSecret": "db-ca", "clientCertSecret": "db-client"}}},
            "hub": {"plainHTTP": True, "podDisruptionBudget": {"enabled": True}, "auditKeys": {"existingSecret": "hub-audit"}},
            "agent": {"privileged": True, "spool": {"enabled": False}, "namespace": {"create": False, "name": ""}},
            "networkPolicies": {"enabled": True},
            "monitoring": {"serviceMonitor": {"enabled": True}, "prometheusRules": {"enabled": True}},
            "cloud": {"existingSecret": "my-cluster-cert"},
            "pricing": {"existingConfigMap": "my-prices"},
            "operator": {"enabled": True, "replicas": 2, "persistence": {"enabled": False}, "webhook": {"existingSecret": "my-webhook-tls"}},
        }),
    "remote hub by HOST:PORT, existing secrets, kubelet off, agent cgroupfs only": (
        "edge", "kubehero-system", {
            "controlPlane": {"enabled": False},
            "cloud": {"enabled": True, "hubEndpoint": "hub.example.com:9443", "existingSecret": "edge-cert"},
            "agent": {"kubelet": {"enabled": False}, "priorityClassQuota": {"enabled": False}, "bpf": {"mode": "off"}},
            "networkPolicies": {"enabled": True},
            "monitoring": {"serviceMonitor": {"enabled": True}, "prometheusRules": {"enabled": True}},
        }),
    "existing hub PKI and database secrets, ingress without API host": (
        "kubehero", "kubehero-system", {
            "database": {"type": "postgres", "postgres": {"existingSecret": "db", "existingSecretHasReadUrl": True}},
            "hub": {"pki": {"existingSecret": "hub-data"}, "auditKeys": {"existingSecret": "hub-data"}, "ingress": {"enabled": True}, "replicas": 3},
            "crds": {"install": False},
            "dashboard": {"enabled": False},
        }),
    "SQLite to PostgreSQL (CNPG, one instance): the migration Job with the hubs stopped": (
        "kubehero", "kubehero-system", {
            "database": {"type": "postgres", "postgres": {"cnpg": {"enabled": True, "instances": 1}, "migrateFromSQLite": {"enabled": True}}},
            "hub": {"replicas": 0, "auditKeys": {"existingSecret": "hub-audit"}},
            "networkPolicies": {"enabled": True},
        }),
}

# Value sets the chart must refuse at render time, with (part of) the message it must give.
REFUSED_SCENARIOS: dict[str, tuple[dict[str, Any], str]] = {
    "PostgreSQL without the audit keys' Secret": (
        {"database": {"type": "postgres", "postgres": {"url": "postgres://hub@db/kubehero"}}}, "hub.auditKeys.existingSecret"),
    "migration with hubs running": (
        {"database": {"type": "postgres", "postgres": {"url": "postgres://hub@db/kubehero", "migrateFromSQLite": {"enabled": True}}},
         "hub": {"auditKeys": {"existingSecret": "a"}}}, "hub.replicas=0"),
    "two operators on one ReadWriteOnce state volume": (
        {"operator": {"enabled": True, "replicas": 2}, "cloud": {"existingSecret": "c"}}, "operator.persistence.enabled=false"),
}

FIXTURE_BUNDLE = """# test fixture, not a real certificate
-----BEGIN CERTIFICATE-----
a3ViZWhlcm8gY2hhcnQgY2hlY2sgZml4dHVyZQ==
-----END CERTIFICATE-----
-----BEGIN PRIVATE KEY-----
a3ViZWhlcm8gY2hhcnQgY2hlY2sgZml4dHVyZQ==
-----END PRIVATE KEY-----
-----BEGIN CERTIFICATE-----
a3ViZWhlcm8gY2hhcnQgY2hlY2sgZml4dHVyZQ==
-----END CERTIFICATE-----
"""


class Failures:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, what: str) -> None:
        self.items.append(f"{where}: {what}")


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """What helm does with -f files and --set: maps merge key by key, anything else replaces."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class Scenario:
    def __init__(self, title: str, release: str, namespace: str, values: dict[str, Any]) -> None:
        self.title, self.release, self.namespace, self.values = title, release, namespace, values


def parse_helm_install(command: str, workdir: Path) -> Scenario:
    """A `helm install` command line as the helm CLI reads it; paths relative to the repository
    root, except --set-file paths, which are relative to `workdir` (where the fixture is)."""
    words = shlex.split(command)
    if words[:2] != ["helm", "install"]:
        raise ValueError(f"not a helm install command: {command}")
    positional: list[str] = []
    namespace = "default"
    values: dict[str, Any] = {}
    i = 2
    while i < len(words):
        word = words[i]
        arg = words[i + 1] if i + 1 < len(words) else None
        if word in ("-f", "--values"):
            values = deep_merge(values, yaml.safe_load((ROOT / arg).read_text()) or {})
        elif word == "--set":
            values = deep_merge(values, helm.parse_set_string(arg))
        elif word == "--set-string":
            values = deep_merge(values, helm.parse_set_string_values(arg))
        elif word == "--set-file":
            key, _, path = arg.partition("=")
            values = deep_merge(values, helm.parse_set_file(f"{key}={workdir / path}"))
        elif word in ("-n", "--namespace"):
            namespace = arg
        elif word == "--create-namespace":
            i += 1
            continue
        elif word.startswith("-"):
            raise ValueError(f"{command}: option {word} is not understood by this check")
        else:
            positional.append(word)
            i += 1
            continue
        i += 2
    if len(positional) != 2:
        raise ValueError(f"{command}: expected RELEASE CHART, got {positional}")
    release, chart = positional
    # The chart by path, or from a chart repository added as `kubehero`: both are this chart.
    if chart not in ("deploy/helm/kubehero", "kubehero/kubehero"):
        raise ValueError(f"{command}: chart {chart} is neither deploy/helm/kubehero nor kubehero/kubehero")
    return Scenario(command, release, namespace, values)


def docs_install_commands(docs: str) -> list[str]:
    """Every `helm install` command in the docs' code blocks, continuation lines joined."""
    commands = []
    for block in re.findall(r"```(?:sh|bash|shell)?\n(.*?)```", docs, re.S):
        text = re.sub(r"\\\n\s*", " ", block)
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("helm install "):
                commands.append(re.sub(r"\s+#.*$", "", line).strip())
    return commands


def render(chart: helm.Chart, scenario: Scenario) -> list[dict[str, Any]]:
    chart.validate_schema(scenario.values)
    manifests = chart.render(scenario.values, name=scenario.release, namespace=scenario.namespace, is_install=True)
    objects = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.load_all(text, Loader=YAML_LOADER):
            if doc:
                doc.setdefault("metadata", {})
                doc["__template"] = path
                objects.append(doc)
    return objects


def where(obj: dict[str, Any]) -> str:
    return f"{obj['kind']} {obj['metadata'].get('namespace', '')}/{obj['metadata'].get('name')} ({obj['__template']})"


def validate_kubernetes(objects: list[dict[str, Any]], fail: Failures, skipped: dict[str, str]) -> int:
    count = 0
    for obj in objects:
        body = {k: v for k, v in obj.items() if k != "__template"}
        key = (obj["apiVersion"], obj["kind"])
        if key in NO_UPSTREAM_SCHEMA:
            skipped[f"{key[1]} ({key[0]})"] = NO_UPSTREAM_SCHEMA[key]
            continue
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(body, version, strict=True)
                count += 1
            except kubernetes_validate.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                fail.add(where(obj), f"Kubernetes {version} schema: {path}: {e.message}")
            except kubernetes_validate.SchemaNotFoundError as e:
                fail.add(where(obj), f"Kubernetes {version} has no {obj['kind']} in {obj['apiVersion']} ({e.message})")
    return count


def validate_budget_policies(objects: list[dict[str, Any]], fail: Failures) -> bool:
    crds = [o for o in objects if o["kind"] == "CustomResourceDefinition" and o["spec"]["names"]["kind"] == "BudgetPolicy"]
    if not crds:
        return False
    schema = crds[0]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    good = yaml.safe_load(BUDGET_POLICY)
    try:
        jsonschema.validate(good, schema)
    except jsonschema.ValidationError as e:
        fail.add("BudgetPolicy CRD", f"refuses the issue-8 example: {'.'.join(map(str, e.path))}: {e.message}")
    for title, (a, b, value) in BAD_BUDGET_POLICIES.items():
        bad = copy.deepcopy(good)
        bad[a][b] = value
        try:
            jsonschema.validate(bad, schema)
            fail.add("BudgetPolicy CRD", f"accepts a bad document ({title})")
        except jsonschema.ValidationError:
            pass
    return True


POD_KINDS = {"Deployment", "DaemonSet", "StatefulSet", "Job"}


def pod_specs(objects: list[dict[str, Any]]):
    for obj in objects:
        if obj["kind"] in POD_KINDS:
            yield obj, obj["spec"]["template"]["spec"]


def check_containers(objects: list[dict[str, Any]], fail: Failures, airgap_registry: str | None) -> None:
    for obj, spec in pod_specs(objects):
        is_agent = obj["kind"] == "DaemonSet"
        pod_sc = spec.get("securityContext") or {}
        if not is_agent:
            for field in ("hostNetwork", "hostPID", "hostIPC"):
                if spec.get(field):
                    fail.add(where(obj), f"restricted PSS: {field}")
            for volume in spec.get("volumes", []):
                if "hostPath" in volume:
                    fail.add(where(obj), f"restricted PSS: hostPath volume {volume['name']}")
        if airgap_registry is not None and not spec.get("imagePullSecrets"):
            fail.add(where(obj), "air-gap: no imagePullSecrets")
        for container in spec.get("initContainers", []) + spec.get("containers", []):
            at = f"{where(obj)} container {container['name']}"
            resources = container.get("resources") or {}
            for kind in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in (resources.get(kind) or {}):
                        fail.add(at, f"no resources.{kind}.{resource}")
            sc = container.get("securityContext")
            if not sc:
                fail.add(at, "no securityContext")
                continue
            if sc.get("readOnlyRootFilesystem") is not True:
                fail.add(at, "root filesystem is not read-only")
            if airgap_registry is not None:
                image = container["image"]
                if "@sha256:" not in image or not image.startswith(airgap_registry + "/"):
                    fail.add(at, f"air-gap: image {image} is not by digest from {airgap_registry}")
            if is_agent:
                continue
            # The restricted Pod Security Standard (v1.29+).
            if sc.get("allowPrivilegeEscalation") is not False:
                fail.add(at, "restricted PSS: allowPrivilegeEscalation must be false")
            if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
                fail.add(at, "restricted PSS: runAsNonRoot")
            if (sc.get("runAsUser", pod_sc.get("runAsUser")) or 1) == 0:
                fail.add(at, "restricted PSS: runAsUser 0")
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                fail.add(at, "restricted PSS: capabilities.drop must include ALL")
            if set((sc.get("capabilities") or {}).get("add") or []) - {"NET_BIND_SERVICE"}:
                fail.add(at, "restricted PSS: adds capabilities")
            seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
            if seccomp not in ("RuntimeDefault", "Localhost"):
                fail.add(at, "restricted PSS: seccompProfile RuntimeDefault or Localhost")
            if sc.get("privileged"):
                fail.add(at, "restricted PSS: privileged")


def exported_metrics() -> set[str]:
    """Metric names the binaries put on /metrics: `metric("NAME", ...)` helpers, histograms
    rendered with `.render("NAME", ...)`, and exposition text written out (`# TYPE NAME`)."""
    names = set()
    for source in (ROOT / "Sources").rglob("*.swift"):
        text = source.read_text()
        names.update(re.findall(r'(?:metric|\.render)\("(kubehero_[a-z0-9_]+)"', text))
        names.update(re.findall(r"# TYPE (kubehero_[a-z0-9_]+) ", text))
    return names


def check_metrics(objects: list[dict[str, Any]], exported: set[str], fail: Failures) -> None:
    exprs: list[tuple[str, str]] = []
    for obj in objects:
        if obj["kind"] == "PrometheusRule":
            for group in obj["spec"]["groups"]:
                for rule in group["rules"]:
                    exprs.append((f"rule {rule['alert']}", rule["expr"]))
        if obj["kind"] == "ConfigMap" and "kubehero.json" in obj.get("data", {}):
            for panel in json.loads(obj["data"]["kubehero.json"])["panels"]:
                for target in panel["targets"]:
                    exprs.append((f"dashboard panel {panel['title']!r}", target["expr"]))
    for at, expr in exprs:
        for name in set(re.findall(r"\bkubehero_[a-z0-9_]+", expr)):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            if name not in exported and base not in exported:
                fail.add(at, f"metric {name} is not exported by the hub or the agent (Sources/)")


def check_promised_alerts(objects: list[dict[str, Any]], values: dict[str, Any], fail: Failures) -> None:
    if not values["monitoring"]["prometheusRules"]["enabled"]:
        return
    alerts = {rule["alert"] for o in objects if o["kind"] == "PrometheusRule" for g in o["spec"]["groups"] for rule in g["rules"]}
    parts = {
        "hub": values["controlPlane"]["enabled"],
        "postgres": values["controlPlane"]["enabled"] and values["database"]["type"] == "postgres",
        "agent": any(o["kind"] == "DaemonSet" for o in objects),
    }
    for part, names in PROMISED_ALERTS.items():
        for name in names:
            if parts[part] and name not in alerts:
                fail.add("PrometheusRule", f"alert {name} is missing")


# --- The binaries' command lines, read from their ArgumentParser declarations ---------------

class Option:
    def __init__(self, name: str, flag: bool, required: bool, variable: str | None = None) -> None:
        # variable: the environment variable that may stand in for a required option.
        self.name, self.flag, self.required, self.variable = name, flag, required, variable


def kebab(name: str) -> str:
    """ArgumentParser's default long name: databaseReadURL -> database-read-url."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1-\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", name).lower()


def swift_bodies(text: str) -> dict[str, str]:
    """Body of every `struct NAME: ...` in a Swift file, by brace matching."""
    bodies = {}
    for m in re.finditer(r"struct (\w+)\s*:[^{]*\{", text):
        depth, i = 1, m.end()
        while depth and i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        bodies[m.group(1)] = text[m.end():i - 1]
    return bodies


def subcommand_options(directory: str) -> dict[str, dict[str, Option]]:
    """`SUBCOMMAND -> {--option: Option}` for the executable whose sources are in directory."""
    text = "\n".join(source.read_text() for source in sorted((ROOT / "Sources" / directory).glob("*.swift")))
    bodies = swift_bodies(text)
    parsable = set(re.findall(r"struct (\w+)\s*:\s*(?:Async)?ParsableCommand\b", text))

    def options(struct: str) -> dict[str, Option]:
        body = bodies[struct]
        # Only this struct's own declarations, not those of structs nested in it.
        for nested in swift_bodies(body).values():
            body = body.replace(nested, "")
        out: dict[str, Option] = {}
        for m in re.finditer(r"@(Option|Flag)\((.*?)\)\s*var\s+(\w+)\s*(:\s*([\w\[\]?]+))?\s*(=)?", body, re.S):
            kind, args, prop, _, type_, default = m.groups()
            custom = re.search(r'\.customLong\("([^"]+)"\)', args)
            name = "--" + (custom.group(1) if custom else kebab(prop))
            required = kind == "Option" and not default and bool(type_) and not type_.endswith("?") and not type_.startswith("[")
            out[name] = Option(name, kind == "Flag", required)
        for m in re.finditer(r"@OptionGroup\s+var\s+\w+\s*:\s*(\w+)", body):
            out.update(options(m.group(1)))
        # Optional for the parser, required by run(): `"--hub (or KUBEHERO_HUB) is required"`.
        for m in re.finditer(r'"(--[\w-]+) \(or (\w+)\) is required', body):
            if m.group(1) in out:
                out[m.group(1)].required, out[m.group(1)].variable = True, m.group(2)
        return out

    commands = {}
    for struct in parsable:
        if "subcommands:" in bodies[struct]:
            continue  # the root command
        named = re.search(r'commandName:\s*"([^"]+)"', bodies[struct])
        commands[named.group(1) if named else kebab(struct)] = options(struct)
    return commands


def check_command_line(at: str, args: list[str], commands: dict[str, dict[str, Option]], env: set[str], fail: Failures) -> dict[str, str]:
    """Checks args against the subcommand's options; returns {--option: value} (flags: "")."""
    if not args or args[0] not in commands:
        fail.add(at, f"first argument {args[:1]} is not a subcommand ({', '.join(sorted(commands))})")
        return {}
    known = commands[args[0]]
    given: dict[str, str] = {}
    i = 1
    while i < len(args):
        word = args[i]
        name, eq, value = word.partition("=")
        option = known.get(name)
        if option is None:
            fail.add(at, f"{args[0]}: {name} is not an option of this subcommand")
        elif option.flag and eq:
            fail.add(at, f"{args[0]}: {name} is a flag and takes no value")
        elif not option.flag and not eq:
            if i + 1 >= len(args):
                fail.add(at, f"{args[0]}: {name} needs a value")
            else:
                i += 1
                value = args[i]
        given[name] = value
        for variable in re.findall(r"\$\((\w+)\)", value):
            if variable not in env:
                fail.add(at, f"{name}: $({variable}) is not in the container's environment")
        i += 1
    for option in known.values():
        if option.required and option.name not in given and option.variable not in env:
            fail.add(at, f"{args[0]}: the required option {option.name} is missing")
    return given


def script_calls(script: str, binary: str) -> list[list[str]]:
    """The argument lists of each command line of a shell script that runs binary (up to a
    redirection or the end of the command)."""
    calls = []
    for line in script.splitlines():
        m = re.match(rf"\s*{binary}\s+([^;&|>]*)", line)
        if m:
            calls.append(shlex.split(m.group(1)))
    return calls


def container_env(container: dict[str, Any]) -> set[str]:
    return {e["name"] for e in container.get("env", [])}


def check_wiring(objects: list[dict[str, Any]], values: dict[str, Any], release: str, namespace: str,
                 commands: dict[str, dict[str, dict[str, Option]]], admission_path: str, fail: Failures) -> None:
    by_kind_name = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    for obj, spec in pod_specs(objects):
        for container in spec.get("initContainers", []) + spec.get("containers", []):
            at = f"{where(obj)} container {container['name']}"
            binary = "kubehero-agent" if "kubehero-agent" in container["image"] else "kubehero-hub"
            if container.get("command"):
                script = "\n".join(container.get("args", []))
                for call in script_calls(script, "kubehero-hub"):
                    check_command_line(at + " (script)", call, commands["kubehero-hub"], container_env(container) | {"API_URL"}, fail)
            else:
                check_command_line(at, container.get("args", []), commands[binary], container_env(container), fail)

    hub = next((o for o in objects if o["kind"] == "Deployment" and o["metadata"]["labels"].get("app.kubernetes.io/component") == "hub"), None)
    if hub is not None:
        check_hub(hub, by_kind_name, values, fail)
    operator = next((o for o in objects if o["kind"] == "Deployment" and o["metadata"]["labels"].get("app.kubernetes.io/component") == "operator"), None)
    webhook = next((o for o in objects if o["kind"] == "ValidatingWebhookConfiguration"), None)
    if (operator is None) != (webhook is None):
        fail.add("operator", "the operator Deployment and the ValidatingWebhookConfiguration must come together")
    if operator is not None and webhook is not None:
        check_webhook(operator, webhook, by_kind_name, values, admission_path, fail)


def check_hub(hub: dict[str, Any], objects: dict[tuple[str, str], dict[str, Any]], values: dict[str, Any], fail: Failures) -> None:
    at = where(hub)
    spec = hub["spec"]["template"]["spec"]
    container = next(c for c in spec["containers"] if c["name"] == "hub")
    args = {a.partition("=")[0]: a.partition("=")[2] for a in container["args"][1:]}
    data = next(v for v in spec["volumes"] if v["name"] == "data")
    replicas = values["hub"].get("replicas")
    pg = values["database"]["postgres"]
    if values["database"]["type"] == "postgres":
        if hub["spec"]["replicas"] != (2 if replicas is None else replicas):
            fail.add(at, f"with PostgreSQL and hub.replicas={replicas} the hub must run {2 if replicas is None else replicas} replicas, not {hub['spec']['replicas']}")
        if "persistentVolumeClaim" in data:
            fail.add(at, "with PostgreSQL the hub is stateless: no PVC for its data dir")
        if args.get("--database") != "$(KUBEHERO_DATABASE_URL)":
            fail.add(at, f"with PostgreSQL the hub must get --database=$(KUBEHERO_DATABASE_URL), got {args.get('--database')}")
        env = {e["name"]: e for e in container.get("env", [])}
        ref = (env.get("KUBEHERO_DATABASE_URL", {}).get("valueFrom") or {}).get("secretKeyRef")
        fullname = hub["metadata"]["name"].removesuffix("-hub")
        want = ((f"{fullname}-db-app", "uri") if pg["cnpg"]["enabled"] else (pg["existingSecret"], "url") if pg["existingSecret"] else (f"{fullname}-database", "url"))
        if not ref or (ref["name"], ref["key"]) != want:
            fail.add(at, f"KUBEHERO_DATABASE_URL must come from Secret {want[0]} key {want[1]}, got {ref}")
        elif want[0] == f"{fullname}-database" and want[1] not in objects.get(("Secret", want[0]), {}).get("stringData", {}):
            fail.add(at, f"the chart's Secret {want[0]} with key {want[1]} is not rendered")
        if pg["cnpg"]["enabled"] and ("Cluster", f"{fullname}-db") not in objects:
            fail.add(at, f"database.postgres.cnpg.enabled renders no CNPG Cluster {fullname}-db")
        if "--database-read-url" in args and "KUBEHERO_DATABASE_READ_URL" not in env:
            fail.add(at, "--database-read-url without KUBEHERO_DATABASE_READ_URL")
        if ("--leader-lease" not in args) or args.get("--replica-name") != "$(POD_NAME)":
            fail.add(at, "with PostgreSQL the hub must get --leader-lease and --replica-name=$(POD_NAME)")
    else:
        if hub["spec"]["replicas"] != (1 if replicas is None else replicas) or hub["spec"]["strategy"]["type"] != "Recreate":
            fail.add(at, "with SQLite the hub runs one replica (default) and is replaced, not rolled")
        claim = (data.get("persistentVolumeClaim") or {}).get("claimName")
        if not claim or ("PersistentVolumeClaim", claim) not in objects:
            fail.add(at, f"with SQLite the data dir must be on the chart's PVC, got {data}")
        if "--database" in args:
            fail.add(at, "with SQLite the hub gets no --database")
    # Every file the hub is told to read is on a mounted volume.
    mounts = [m["mountPath"] for m in container.get("volumeMounts", [])]
    for name, value in args.items():
        if name.endswith(("-file", "-cert", "-key")) and value.startswith("/") and not any(value.startswith(m + "/") for m in mounts):
            fail.add(at, f"{name}={value} is on no mounted volume")


def check_webhook(operator: dict[str, Any], webhook_config: dict[str, Any], objects: dict[tuple[str, str], dict[str, Any]],
                  values: dict[str, Any], admission_path: str, fail: Failures) -> None:
    at = where(webhook_config)
    spec = operator["spec"]["template"]["spec"]
    container = spec["containers"][0]
    args = {a.partition("=")[0]: a.partition("=")[2] for a in container["args"][1:]}
    listen_port = int(args.get("--webhook-listen", "0.0.0.0:8443").rsplit(":", 1)[1])
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    for hook in webhook_config["webhooks"]:
        service_ref = hook["clientConfig"]["service"]
        service = objects.get(("Service", service_ref["name"]))
        if service is None or service["metadata"]["namespace"] != service_ref["namespace"]:
            fail.add(at, f"calls Service {service_ref['namespace']}/{service_ref['name']}, which is not rendered")
            continue
        selector = service["spec"]["selector"]
        if any(operator["spec"]["template"]["metadata"]["labels"].get(k) != v for k, v in selector.items()):
            fail.add(at, f"Service {service_ref['name']} does not select the operator's pods")
        port = next((p for p in service["spec"]["ports"] if p["port"] == service_ref.get("port", 443)), None)
        target = port and (ports.get(port["targetPort"]) if isinstance(port["targetPort"], str) else port["targetPort"])
        if target != listen_port:
            fail.add(at, f"Service port {service_ref.get('port', 443)} leads to container port {target}, but the operator listens on {listen_port} (--webhook-listen)")
        if service_ref.get("path") != admission_path:
            fail.add(at, f"path {service_ref.get('path')} is not the operator's {admission_path}")
        if hook["failurePolicy"] != values["operator"]["webhook"]["failurePolicy"] or values["operator"]["webhook"]["failurePolicy"] == "Ignore" and hook["failurePolicy"] != "Ignore":
            fail.add(at, f"failurePolicy {hook['failurePolicy']}")
        if not 1 <= hook.get("timeoutSeconds", 10) <= 30:
            fail.add(at, f"timeoutSeconds {hook.get('timeoutSeconds')} is outside 1-30")
        excluded = {v for e in hook["namespaceSelector"].get("matchExpressions", []) if e["key"] == "kubernetes.io/metadata.name" and e["operator"] == "NotIn" for v in e["values"]}
        if not WEBHOOK_EXCLUDED <= excluded:
            fail.add(at, f"does not exclude {sorted(WEBHOOK_EXCLUDED - excluded)}")
        if hook["rules"] != [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"], "scope": "Namespaced"}]:
            fail.add(at, f"rules {hook['rules']}: the operator decides pod creations only")
        # The serving certificate: the files given to the operator come from the Secret whose CA
        # the API server is told to trust.
        tls_secret = values["operator"]["webhook"]["existingSecret"] or f"{operator['metadata']['name']}-tls"
        volumes = {v["name"]: v for v in spec["volumes"]}
        for flag, key in (("--webhook-cert", "tls.crt"), ("--webhook-key", "tls.key")):
            path = args.get(flag, "")
            mount = next((m for m in container["volumeMounts"] if path.startswith(m["mountPath"] + "/")), None)
            if mount is None or (volumes[mount["name"]].get("secret") or {}).get("secretName") != tls_secret or not path.endswith("/" + key):
                fail.add(where(operator), f"{flag}={path} is not {key} of the webhook Secret {tls_secret}")
        generated = objects.get(("Secret", tls_secret))
        if generated is not None and hook["clientConfig"].get("caBundle") != generated["data"]["ca.crt"]:
            fail.add(at, f"caBundle is not the CA of the Secret {tls_secret}")


def admission_path() -> str:
    text = (ROOT / "Sources/KubeHeroAgent/Operator/AdmissionServer.swift").read_text()
    return re.search(r'static let path = "([^"]+)"', text).group(1)


def describe_certificate(pem: str) -> str:
    """What a generated certificate says, without the parts that change every render."""
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as f:
        f.write(pem)
        f.flush()
        info = ssl._ssl._test_decode_cert(f.name)  # type: ignore[attr-defined]
    days = (ssl.cert_time_to_seconds(info["notAfter"]) - ssl.cert_time_to_seconds(info["notBefore"])) // 86400
    return json.dumps({"subject": info.get("subject"), "san": info.get("subjectAltName"), "days": days})


def stable(objects: list[dict[str, Any]]) -> str:
    """The rendered objects with generated keys and certificates replaced by what they say, so
    that two renders of the same values compare equal."""
    import base64

    def scrub(value: str) -> str:
        text = base64.b64decode(value).decode()
        if "BEGIN CERTIFICATE" in text:
            return "cert " + describe_certificate(text)
        return "<generated key>" if "PRIVATE KEY" in text else value

    out = copy.deepcopy(objects)
    for obj in out:
        if obj["kind"] == "Secret" and obj["metadata"].get("annotations", {}).get("kubehero.io/generated"):
            obj["data"] = {k: scrub(v) for k, v in obj.get("data", {}).items()}
        if obj["kind"] == "ValidatingWebhookConfiguration":
            for hook in obj["webhooks"]:
                if "caBundle" in hook["clientConfig"]:
                    hook["clientConfig"]["caBundle"] = scrub(hook["clientConfig"]["caBundle"])
    return json.dumps(out, sort_keys=True)


def leaves(values: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Value paths a user sets: leaves, plus open maps and lists as a whole."""
    if isinstance(values, dict) and values and not prefix.endswith(("annotations", "labels", "Labels", "Annotations", "requests", "limits", "nodeSelector", "affinity")):
        out = []
        for key, value in values.items():
            out += leaves(value, f"{prefix}.{key}" if prefix else key)
        return out
    return [(prefix, values)]


def get_path(values: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        values = values[part]
    return values


def set_path(values: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(values)
    node = out
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def mutations(path: str, current: Any, schema: dict[str, Any]) -> list[Any]:
    """Other values a user could give: valid for the schema where we can tell."""
    node = schema
    for part in path.split("."):
        node = (node.get("properties") or {}).get(part, {})
    if "enum" in node:
        return [v for v in node["enum"] if v != current]
    if isinstance(current, bool):
        return [not current]
    if isinstance(current, int):
        return [current + 1]
    if current is None:
        return [5]
    if isinstance(current, list):
        if current and all(isinstance(v, int) for v in current):
            return [current + [8443]]
        if current and isinstance(current[0], str):
            return [current + ["SYS_PTRACE" if path.endswith("capabilities") else "probe-value"]]
        return [[], [{"name": "probe-value", "key": "k", "operator": "Exists"}]]
    if isinstance(current, dict) and path.endswith("resources"):
        return [{"requests": {"cpu": "3", "memory": "3Gi"}, "limits": {"cpu": "4", "memory": "4Gi"}}]
    if isinstance(current, dict):
        return [{"probe.kubehero.io/x": "probe-value"} if not path.endswith(("requests", "limits")) else {"cpu": "3", "memory": "3Gi"}]
    if re.fullmatch(r"[0-9]+(ms|s|m|h|d|w)", current or ""):
        return [re.sub(r"^[0-9]+", lambda m: str(int(m.group()) * 2), current)]
    if re.fullmatch(r"[0-9]+(Gi|Mi)", current or ""):
        return [current.replace("Gi", "0Gi").replace("Mi", "0Mi")]
    if re.fullmatch(r"[0-9]+%", current or ""):
        return ["33%"]
    if path.endswith("digest"):
        return ["sha256:" + "ab" * 32]
    if path.endswith("hubEndpoint"):
        return ["https://hub.example.com:8443"]
    if path.endswith("clusterCert"):
        return [FIXTURE_BUNDLE.replace("fixture", "other")]
    if path.endswith("catalog"):
        return ['{"version": 2}']
    if path.endswith("Host") or path.endswith("Secret") or path.endswith("ConfigMap"):
        return ["probe.kubehero.internal"]
    if current.startswith("/"):
        return [current + "/probe"]
    if path.endswith("url") or path.endswith("Url") or path.endswith("source"):
        return ["postgres://probe@probe:5432/probe"]
    return ["probe-value"]


def check_values_used(chart: helm.Chart, scenarios: list[Scenario], docs_paths: set[str], fail: Failures) -> int:
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    paths = dict(leaves(defaults))
    for path in docs_paths:
        if path not in paths:
            try:
                paths[path] = get_path(defaults, path)
            except (KeyError, TypeError):
                fail.add("docs/helm.md", f"names value {path}, which values.yaml does not have")
    baselines = []
    # The value sets that switch most on come first: most values show there at once.
    for s in sorted(scenarios, key=lambda s: not s.title.startswith("everything-on")):
        values = chart.merge_values(s.values)
        try:
            baselines.append((s, values, stable(render(chart, Scenario(s.title, s.release, s.namespace, values)))))
        except helm.HelmError:
            continue  # reported by the render step
    checked = 0
    for path, _ in sorted(paths.items()):
        used = False
        tried = []
        for s, values, baseline in baselines:
            try:
                current = get_path(values, path)
            except (KeyError, TypeError):
                continue
            for candidate in mutations(path, current, schema):
                tried.append(repr(candidate)[:40])
                try:
                    changed = stable(render(chart, Scenario(s.title, s.release, s.namespace, set_path(values, path, candidate))))
                except helm.HelmError:
                    continue  # not a value this scenario can take (a template refused it)
                if changed != baseline:
                    used = True
                    break
            if used:
                break
        checked += 1
        if not used:
            fail.add(f"value {path}", f"changing it (to {', '.join(sorted(set(tried))[:3]) or 'nothing valid'}) changes no rendered object in any value set")
    return checked


FILE_SUFFIXES = (".yaml", ".md", ".json", ".pem", ".sqlite", ".txt", ".swift", ".py", ".sh")


def docs_value_paths(docs: str, top_level: set[str]) -> set[str]:
    """Value names in the docs: dotted names in backticks, --set NAME=... and table cells."""
    found = set()
    for token in re.findall(r"(?<![\w./:-])([a-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)+)(?![\w/-])", docs):
        if token.split(".")[0] in top_level and not token.endswith(FILE_SUFFIXES):
            found.add(token)
    return found


def main() -> int:
    global CHART
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chart", default=str(CHART))
    parser.add_argument("--docs", default=str(DOCS))
    parser.add_argument("--quick", action="store_true", help="skip the values-are-used check (the slow part)")
    args = parser.parse_args()
    CHART = Path(args.chart).resolve()
    started = time.monotonic()
    fail = Failures()

    lint = helm.lint(str(CHART), kube_version="v" + KUBE_VERSIONS[0], strict=True)
    for message in lint["messages"]:
        if message["severity"] >= 2:
            fail.add(f"helm lint {message['path']}", message["error"])
    for error in lint.get("errors") or []:
        fail.add("helm lint", error)

    docs = Path(args.docs).read_text()
    workdir = Path(tempfile.mkdtemp(prefix="kubehero-chart-check-"))
    (workdir / "cluster-cert.pem").write_text(FIXTURE_BUNDLE)
    commands = docs_install_commands(docs)
    normalized = {" ".join(shlex.split(c)) for c in commands}
    for promised in PROMISED_COMMANDS:
        if " ".join(shlex.split(promised)) not in normalized:
            fail.add("docs/helm.md", f"does not show the command the chart promises: {promised}")
    scenarios = []
    for command in commands:
        try:
            scenarios.append(parse_helm_install(command, workdir))
        except ValueError as e:
            fail.add("docs/helm.md", str(e))
    for title, (release, namespace, values) in EXTRA_SCENARIOS.items():
        values = json.loads(json.dumps(values).replace('"@fixture"', json.dumps(FIXTURE_BUNDLE)))
        scenarios.append(Scenario(title, release, namespace, values))

    chart = helm.Chart.load(str(CHART))
    exported = exported_metrics()
    commands = {binary: subcommand_options(binary) for binary in ("kubehero-hub", "kubehero-agent")}
    for binary, expected in (("kubehero-hub", {"init", "serve", "migrate"}), ("kubehero-agent", {"run", "operator"})):
        if not expected <= set(commands[binary]):
            fail.add(f"Sources/{binary}", f"subcommands {sorted(commands[binary])} read, expected at least {sorted(expected)}: the check's reading of the sources is broken")
    webhook_path = admission_path()
    skipped: dict[str, str] = {}
    validated = 0
    crd_checked = False
    for scenario in scenarios:
        try:
            objects = render(chart, scenario)
        except helm.HelmError as e:
            fail.add(f"render [{scenario.title}]", str(e))
            continue
        before = len(fail.items)
        airgap = None
        if "values.airgap.yaml" in scenario.title:
            airgap = get_path(scenario.values, "image.registry")
        validated += validate_kubernetes(objects, fail, skipped)
        check_containers(objects, fail, airgap)
        check_metrics(objects, exported, fail)
        values = chart.merge_values(scenario.values)
        check_promised_alerts(objects, values, fail)
        check_wiring(objects, values, scenario.release, scenario.namespace, commands, webhook_path, fail)
        crd_checked = validate_budget_policies(objects, fail) or crd_checked
        kinds = sorted({o["kind"] for o in objects})
        status = "ok" if len(fail.items) == before else f"{len(fail.items) - before} problem(s)"
        print(f"rendered [{scenario.title}]: {len(objects)} objects ({', '.join(kinds)}): {status}")
    if not crd_checked:
        fail.add("BudgetPolicy CRD", "no value set rendered it")
    for kind, reason in sorted(skipped.items()):
        print(f"skipped schema validation of {kind}: {reason}")
    for title, (values, message) in REFUSED_SCENARIOS.items():
        try:
            render(chart, Scenario(title, "kubehero", "kubehero-system", values))
            fail.add(f"render [{title}]", "the chart must refuse these values")
        except helm.HelmError as e:
            if message not in str(e):
                fail.add(f"render [{title}]", f"refused without naming {message}: {e}")

    if not args.quick:
        top_level = set(yaml.safe_load((CHART / "values.yaml").read_text()))
        checked = check_values_used(chart, scenarios, docs_value_paths(docs, top_level), fail)
        print(f"values: {checked} checked for use by the templates")

    elapsed = time.monotonic() - started
    if fail.items:
        for item in fail.items:
            print(f"FAIL {item}", file=sys.stderr)
        print(f"chart check: {len(fail.items)} problem(s) ({elapsed:.1f} s)", file=sys.stderr)
        return 1
    print(f"chart check: ok: {len(scenarios)} value sets, {validated} object validations against Kubernetes {' and '.join(KUBE_VERSIONS)} ({elapsed:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
