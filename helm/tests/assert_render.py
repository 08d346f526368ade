#!/usr/bin/env python3
"""Asserts what `helm template` renders for each toggle of the helpdesk-sla-exporter chart.

helm-unittest needs a plugin download, which is not possible here, so the chart is tested the
plain way: render with a set of flags, parse the YAML and assert on the objects. Each case is one
render; a case passes when all of its assertions hold. Schema cases assert that a bad value makes
`helm template` fail with the schema error.

Usage: assert_render.py [--counts-file FILE]   (HELM selects the helm binary; default `helm`)
"""

import base64
import glob
import json
import os
import subprocess
import sys
import traceback

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
CHART = os.path.join(os.path.dirname(HERE), "helpdesk-sla-exporter")
HELM = os.environ.get("HELM", "helm")
RELEASE = "hd"
FULLNAME = "hd-helpdesk-sla-exporter"
MONITORING_API = ["--api-versions", "monitoring.coreos.com/v1"]
CONFIG_FILE = "/etc/helpdesk-sla-exporter/config.yml"
SECRET_DIR = "/run/secrets/helpdesk-sla-exporter"
STORAGE = "/var/lib/helpdesk-sla-exporter"


def render(*args):
    """Renders the chart and returns its objects keyed by (kind, name)."""
    out = subprocess.run(
        [HELM, "template", RELEASE, CHART, "--namespace", "sla", *args],
        check=True, capture_output=True, text=True,
    ).stdout
    objs = {}
    for doc in yaml.safe_load_all(out):
        if doc:
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in objs, f"duplicate object {key}"
            objs[key] = doc
    return objs


def render_fails(*args):
    """Returns helm's stderr for a render that must fail."""
    proc = subprocess.run(
        [HELM, "template", RELEASE, CHART, *args], capture_output=True, text=True,
    )
    assert proc.returncode != 0, f"helm template {' '.join(args)} succeeded but should fail"
    return proc.stderr


def kinds(objs):
    return sorted(kind for kind, _ in objs)


def workload(objs):
    found = [o for (k, _), o in objs.items() if k in ("Deployment", "StatefulSet")]
    assert len(found) == 1, f"expected one workload, got {len(found)}"
    return found[0]


def pod_spec(objs):
    return workload(objs)["spec"]["template"]["spec"]


def container(objs):
    (c,) = pod_spec(objs)["containers"]
    return c


def volumes(objs):
    return {v["name"]: v for v in pod_spec(objs).get("volumes", [])}


def mounts(objs):
    return {m["name"]: m["mountPath"] for m in container(objs).get("volumeMounts", [])}


def chart_values():
    with open(os.path.join(CHART, "values.yaml")) as f:
        return yaml.safe_load(f)


# The in-cluster address that replaces the items_url placeholder when itemsBaseUrl is empty.
ITEMS_BASE = f"http://{FULLNAME}.sla.svc:10042"


def chart_rule_groups():
    """The chart's rule files as the default render must show them (items links in-cluster)."""
    groups = []
    for path in sorted(glob.glob(os.path.join(CHART, "files/alerts/*.yml"))):
        with open(path) as f:
            text = f.read().replace("https://example.invalid/set-prometheusRule.itemsBaseUrl", ITEMS_BASE)
            groups += yaml.safe_load(text)["groups"]
    return groups


def eq(got, want, what):
    assert got == want, f"{what}: got {got!r}, want {want!r}"


# ---- cases ---------------------------------------------------------------------------------

def case_default():
    objs = render()
    eq(kinds(objs), ["ConfigMap", "Deployment", "Pod", "Secret", "Service", "ServiceAccount"], "kinds")
    dep = objs[("Deployment", FULLNAME)]
    eq(dep["spec"]["replicas"], 1, "replicas")
    eq(dep["spec"]["strategy"], {"type": "Recreate"}, "strategy")
    c = container(objs)
    eq(c["image"], "ghcr.io/helpdesk-sla-exporter/helpdesk-sla-exporter:0.1.0", "image defaults to appVersion")
    for arg in (f"--config.file={CONFIG_FILE}", "--web.listen-address=:10042", f"--storage.path={STORAGE}",
                "--log.level=info", "--log.format=logfmt"):
        assert arg in c["args"], f"missing arg {arg}: {c['args']}"
    assert "--demo" not in c["args"], "--demo without demo.enabled"
    assert "--web.enable-lifecycle" not in c["args"], "lifecycle endpoints are opt-in"
    eq(c["ports"], [{"name": "http", "containerPort": 10042, "protocol": "TCP"}], "ports")
    eq(c["livenessProbe"]["httpGet"]["path"], "/-/healthy", "liveness path")
    eq(c["readinessProbe"]["httpGet"]["path"], "/-/ready", "readiness path")
    sc = c["securityContext"]
    eq(sc["runAsNonRoot"], True, "runAsNonRoot")
    eq(sc["runAsUser"], 65534, "runAsUser")
    eq(sc["readOnlyRootFilesystem"], True, "readOnlyRootFilesystem")
    eq(sc["allowPrivilegeEscalation"], False, "allowPrivilegeEscalation")
    eq(sc["capabilities"], {"drop": ["ALL"]}, "capabilities")
    eq(sc["seccompProfile"], {"type": "RuntimeDefault"}, "container seccomp")
    eq(pod_spec(objs)["securityContext"]["seccompProfile"], {"type": "RuntimeDefault"}, "pod seccomp")
    eq(pod_spec(objs)["automountServiceAccountToken"], False, "automount token")
    vols = volumes(objs)
    eq(vols["config"]["configMap"]["name"], FULLNAME, "config volume")
    eq(vols["credentials"]["secret"]["secretName"], FULLNAME, "credentials volume")
    assert "emptyDir" in vols["storage"], "storage is an emptyDir without persistence"
    eq(mounts(objs), {"config": "/etc/helpdesk-sla-exporter", "credentials": SECRET_DIR, "storage": STORAGE,
                     "tmp": "/tmp"}, "mounts")
    cfg = yaml.safe_load(objs[("ConfigMap", FULLNAME)]["data"]["config.yml"])
    eq(cfg, chart_values()["config"], "config.yml round trip")
    svc = objs[("Service", FULLNAME)]
    eq(svc["spec"]["ports"][0]["port"], 10042, "service port")
    eq(svc["spec"]["ports"][0]["name"], "http", "service port name")
    assert "data" not in objs[("Secret", FULLNAME)], "empty Secret without apiKeys"
    test = objs[("Pod", f"{FULLNAME}-test-healthy")]
    eq(test["metadata"]["annotations"]["helm.sh/hook"], "test", "test hook")
    eq(test["spec"]["containers"][0]["command"][-1],
       f"http://{FULLNAME}.sla.svc:10042/-/healthy", "test URL")


def case_crd_objects_need_the_api():
    flags = ["--set", "serviceMonitor.enabled=true", "--set", "prometheusRule.enabled=true"]
    without = render(*flags)
    assert "ServiceMonitor" not in kinds(without) and "PrometheusRule" not in kinds(without), \
        "CRD objects rendered without monitoring.coreos.com/v1"
    off = render(*MONITORING_API)
    assert "ServiceMonitor" not in kinds(off) and "PrometheusRule" not in kinds(off), \
        "CRD objects rendered while disabled"


def case_service_monitor():
    objs = render(*MONITORING_API, "--set", "serviceMonitor.enabled=true",
                  "--set", "serviceMonitor.labels.release=kube-prometheus-stack",
                  "--set", "serviceMonitor.interval=1m")
    sm = objs[("ServiceMonitor", FULLNAME)]
    eq(sm["metadata"]["labels"]["release"], "kube-prometheus-stack", "extra label")
    eq(sm["spec"]["jobLabel"], "app.kubernetes.io/name", "jobLabel")
    eq(objs[("Service", FULLNAME)]["metadata"]["labels"]["app.kubernetes.io/name"],
       "helpdesk-sla-exporter", "job label value on the Service")
    (ep,) = sm["spec"]["endpoints"]
    eq((ep["port"], ep["path"], ep["interval"]), ("http", "/metrics", "1m"), "endpoint")
    eq(sm["spec"]["selector"]["matchLabels"], objs[("Service", FULLNAME)]["spec"]["selector"], "selector")
    assert "PrometheusRule" not in kinds(objs), "PrometheusRule rendered while disabled"


def case_service_monitor_follows_web_config():
    """TLS makes the scrape https; basic auth needs Secret references, or the chart refuses."""
    base = (*MONITORING_API, "--set", "serviceMonitor.enabled=true")
    (ep,) = render(*base)[("ServiceMonitor", FULLNAME)]["spec"]["endpoints"]
    eq(ep["scheme"], "http", "plain scheme")
    assert "tlsConfig" not in ep and "basicAuth" not in ep, ep
    objs = render(*base, "--set", "web.configSecret=w", "--set", "web.tls=true", "--set", "web.basicAuth=true",
                  "--set", "serviceMonitor.tlsConfig.serverName=sla.example",
                  "--set", "serviceMonitor.tlsConfig.ca.secret.name=w", "--set", "serviceMonitor.tlsConfig.ca.secret.key=ca.crt",
                  "--set", "serviceMonitor.basicAuth.username.name=prom", "--set", "serviceMonitor.basicAuth.username.key=user",
                  "--set", "serviceMonitor.basicAuth.password.name=prom", "--set", "serviceMonitor.basicAuth.password.key=pass")
    (ep,) = objs[("ServiceMonitor", FULLNAME)]["spec"]["endpoints"]
    eq(ep["scheme"], "https", "scheme follows web.tls")
    eq(ep["tlsConfig"], {"serverName": "sla.example", "ca": {"secret": {"name": "w", "key": "ca.crt"}}}, "tlsConfig")
    eq(ep["basicAuth"], {"username": {"name": "prom", "key": "user"}, "password": {"name": "prom", "key": "pass"}},
       "basicAuth")
    err = render_fails(*base, "--set", "web.configSecret=w", "--set", "web.basicAuth=true")
    assert "serviceMonitor.basicAuth" in err, f"missing credentials not refused: {err.strip()}"
    eq(render(*base, "--set", "serviceMonitor.scheme=http", "--set", "web.tls=true", "--set", "web.configSecret=w")
       [("ServiceMonitor", FULLNAME)]["spec"]["endpoints"][0]["scheme"], "http", "explicit scheme wins")


def case_prometheus_rule():
    objs = render(*MONITORING_API, "--set", "prometheusRule.enabled=true",
                  "--set", "prometheusRule.additionalLabels.release=kps")
    pr = objs[("PrometheusRule", FULLNAME)]
    eq(pr["metadata"]["labels"]["release"], "kps", "extra label")
    eq(pr["spec"]["groups"], chart_rule_groups(), "groups equal the chart's rule files")
    # Equality with the parsed files also proves the {{ $labels }} placeholders passed through untouched.
    # The CRD types labels and annotations as strings; an unquoted number in a rule file would be
    # rendered as a YAML number and rejected by the API server, though promtool accepts it.
    for group in pr["spec"]["groups"]:
        for rule in group["rules"]:
            for field in ("labels", "annotations"):
                for k, v in (rule.get(field) or {}).items():
                    assert isinstance(v, str), f"{group['name']}: {field}.{k} is {type(v).__name__}, quote it"
    assert "ServiceMonitor" not in kinds(objs), "ServiceMonitor rendered while disabled"


def rule_exprs_and_alerts(objs):
    (rule,) = [o for (k, _), o in objs.items() if k == "PrometheusRule"]
    rules = [r for g in rule["spec"]["groups"] for r in g["rules"]]
    return rules, [r for r in rules if "alert" in r]


def case_prometheus_rule_selector_follows_name_override():
    rules, _ = rule_exprs_and_alerts(render("--set", "prometheusRule.enabled=true", "--set", "nameOverride=sla",
                                            *MONITORING_API))
    exprs = "\n".join(r["expr"] for r in rules)
    assert 'job="sla"' in exprs and "helpdesk-sla-exporter" not in exprs, "selector did not follow nameOverride"
    rules, _ = rule_exprs_and_alerts(render("--set", "prometheusRule.enabled=true", *MONITORING_API))
    exprs = "\n".join(r["expr"] for r in rules)
    eq(exprs.count("job="), exprs.count('job="helpdesk-sla-exporter"'), "every matcher is the default selector")
    assert exprs.count("job=") > 10, "the rules select by job"


def case_prometheus_rule_custom_alerts():
    rules, alerts = rule_exprs_and_alerts(render("-f", os.path.join(CHART, "ci/custom-alerts-values.yaml"),
                                                 *MONITORING_API))
    names = {a["alert"] for a in alerts}
    assert "HelpdeskSLASourceRateLimited" not in names, "disabled alert still rendered"
    assert "HelpdeskExporterDown" in names and "HelpdeskSLABreached" in names, names
    sel = 'job="helpdesk-sla", namespace="monitoring"'
    exprs = "\n".join(r["expr"] for r in rules)
    eq(exprs.count("job="), exprs.count(sel), "every matcher is the custom selector")
    assert not any('job="sla"' in r["expr"] for r in rules), "default selector left in place"
    down = [a for a in alerts if a["alert"] == "HelpdeskExporterDown"][0]
    eq(down["for"], "10m", "for override")
    eq(down["labels"]["severity"], "warning", "severity override")
    stale = [a for a in alerts if a["alert"] == "HelpdeskSLASourceDataStale"][0]
    assert "> 3600" in stale["expr"], "expr override"
    for a in alerts:
        eq(a["labels"]["team"], "support", f"alertLabels on {a['alert']}")
        assert a["annotations"]["runbook_url"].startswith("https://wiki.example.com/helpdesk-sla/runbook#"), a
    breached = [a for a in alerts if a["alert"] == "HelpdeskSLABreached"][0]
    eq(breached["labels"]["alert_group"], "helpdesk-sla", "rule's own labels kept")


def case_items_links():
    """The items_url of the linked alerts: the in-cluster Service by default, or the value."""
    linked = {"HelpdeskSLAItemsAboutToBreach", "HelpdeskSLAItemsAtRisk", "HelpdeskSLABreached"}
    for args, base in (
        ((), f"{ITEMS_BASE}/items?"),
        (("--set", "prometheusRule.itemsBaseUrl=https://sla.example.com/"), "https://sla.example.com/items?"),
    ):
        _, alerts = rule_exprs_and_alerts(render("--set", "prometheusRule.enabled=true", *args, *MONITORING_API))
        with_link = {a["alert"] for a in alerts if "items_url" in a["annotations"]}
        eq(with_link, linked, "alerts with an items_url")
        for a in alerts:
            url = a["annotations"].get("items_url")
            if url:
                assert url.startswith(base), url
                assert "source={{ $labels.source | urlquery }}" in url, url


def case_runbook_default_is_a_placeholder():
    _, alerts = rule_exprs_and_alerts(render("--set", "prometheusRule.enabled=true", *MONITORING_API))
    assert all(a["annotations"]["runbook_url"].startswith("https://example.invalid/") for a in alerts)


def case_prometheus_rule_custom_rules():
    objs = render(*MONITORING_API, "-f", os.path.join(CHART, "ci/monitoring-values.yaml"))
    groups = objs[("PrometheusRule", FULLNAME)]["spec"]["groups"]
    eq(groups[-1]["name"], "helpdesk-sla-exporter.custom", "custom group last")
    eq(groups[:-1], chart_rule_groups(), "shipped groups first")


def case_dashboards():
    objs = render("--set", "dashboards.enabled=true", "--set", "dashboards.labels.release=kps",
                  "--set", "dashboards.annotations.grafana_folder=Helpdesk")
    cm = objs[("ConfigMap", f"{FULLNAME}-dashboards")]
    eq(cm["metadata"]["labels"]["grafana_dashboard"], "1", "sidecar label")
    eq(cm["metadata"]["labels"]["release"], "kps", "extra label")
    eq(cm["metadata"]["annotations"]["grafana_folder"], "Helpdesk", "folder annotation")
    files = sorted(glob.glob(os.path.join(CHART, "files/dashboards/*.json")))
    eq(sorted(cm["data"]), [os.path.basename(f) for f in files], "dashboard keys")
    for f in files:
        with open(f) as fh:
            raw = fh.read().replace("https://example.invalid/set-prometheusRule.itemsBaseUrl", ITEMS_BASE)
        eq(cm["data"][os.path.basename(f)].rstrip("\n"), raw.rstrip("\n"), f"bytes of {os.path.basename(f)}")
        json.loads(cm["data"][os.path.basename(f)])
    overview = json.loads(cm["data"]["helpdesk-sla-overview.json"])
    url = [v for v in overview["templating"]["list"] if v["name"] == "exporter_url"][0]
    eq(url["query"], ITEMS_BASE, "the overview's exporter_url defaults to the in-cluster Service")
    assert ("ConfigMap", f"{FULLNAME}-dashboards") not in render(), "dashboards rendered while disabled"


def case_web_config_probes():
    """basic_auth_users makes every path answer 401, so HTTP probes would fail: with basicAuth the
    probes check the TCP port (timings kept); with TLS alone they use HTTPS; the config is mounted."""
    objs = render("-f", os.path.join(CHART, "ci/web-config-values.yaml"))
    c = container(objs)
    assert "--web.config.file=/etc/helpdesk-sla-exporter/web/web.yml" in c["args"], c["args"]
    assert {"name": "web-config", "mountPath": "/etc/helpdesk-sla-exporter/web", "readOnly": True} in c["volumeMounts"]
    web = volumes(objs)["web-config"]
    eq(web["secret"]["secretName"], "helpdesk-sla-web", "web config Secret")
    values = chart_values()
    for probe in ("livenessProbe", "readinessProbe"):
        assert "httpGet" not in c[probe], c[probe]
        eq(c[probe]["tcpSocket"], {"port": "http"}, f"{probe} checks the port")
        eq(c[probe]["periodSeconds"], values[probe]["periodSeconds"], f"{probe} timing kept")
    c = container(render("--set", "web.configSecret=w", "--set", "web.tls=true"))
    for probe in ("livenessProbe", "readinessProbe"):
        eq(c[probe]["httpGet"]["scheme"], "HTTPS", f"{probe} over TLS")
        eq(c[probe]["httpGet"]["path"], values[probe]["httpGet"]["path"], f"{probe} path kept")
    c = container(render())
    assert not any(a.startswith("--web.config.file") for a in c["args"]), c["args"]
    eq(c["livenessProbe"]["httpGet"], values["livenessProbe"]["httpGet"], "plain HTTP probe unchanged")


def case_persistence():
    objs = render("-f", os.path.join(CHART, "ci/persistence-values.yaml"))
    eq(kinds(objs), ["ConfigMap", "Pod", "Secret", "Service", "ServiceAccount", "StatefulSet"], "kinds")
    sts = objs[("StatefulSet", FULLNAME)]
    eq(sts["spec"]["replicas"], 1, "replicas")
    eq(sts["spec"]["serviceName"], FULLNAME, "serviceName")
    (vct,) = sts["spec"]["volumeClaimTemplates"]
    eq(vct["metadata"]["name"], "storage", "claim name matches the mount")
    eq(vct["spec"]["storageClassName"], "fast-ssd", "storage class")
    eq(vct["spec"]["resources"]["requests"]["storage"], "2Gi", "size")
    assert "storage" not in volumes(objs), "pod volume shadows the volumeClaimTemplate"
    eq(mounts(objs)["storage"], STORAGE, "storage mount")
    data = objs[("Secret", FULLNAME)]["data"]
    eq(base64.b64decode(data["support"]).decode(), "not-a-real-key", "apiKeys stored base64")


def case_persistence_existing_claim_and_no_class():
    objs = render("--set", "persistence.enabled=true", "--set", "persistence.existingClaim=my-pvc")
    sts = objs[("StatefulSet", FULLNAME)]
    assert "volumeClaimTemplates" not in sts["spec"], "volumeClaimTemplate with existingClaim"
    eq(volumes(objs)["storage"]["persistentVolumeClaim"]["claimName"], "my-pvc", "claim")
    objs = render("--set", "persistence.enabled=true", "--set", "persistence.storageClass=-")
    eq(objs[("StatefulSet", FULLNAME)]["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"], "",
       "storageClass '-' disables provisioning")


def case_shards():
    objs = render("-f", os.path.join(CHART, "ci/shards-values.yaml"))
    assert "Deployment" not in kinds(objs), "a Deployment cannot give pods their shard ordinal"
    sts = objs[("StatefulSet", FULLNAME)]
    eq(sts["spec"]["replicas"], 3, "one replica per shard")
    assert "volumeClaimTemplates" not in sts["spec"], "claims rendered without persistence"
    assert "emptyDir" in volumes(objs)["storage"], "each pod gets an emptyDir store"
    args = container(objs)["args"]
    assert "--shard.count=3" in args, f"shard count not passed: {args}"
    assert not any(a.startswith("--shard.index") for a in args), "the index comes from the pod's ordinal"
    objs = render("--set", "shards=2", "--set", "persistence.enabled=true")
    sts = objs[("StatefulSet", FULLNAME)]
    eq(sts["spec"]["replicas"], 2, "replicas with persistence")
    eq(sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"], "storage", "a claim per shard")
    assert not any(a.startswith("--shard") for a in container(render())["args"]), "one shard passes no flag"
    err = render_fails("--set", "shards=2", "--set", "persistence.enabled=true",
                       "--set", "persistence.existingClaim=my-pvc")
    assert "existingClaim cannot be shared" in err, err
    err = render_fails("--set", "shards=0")
    assert "shards" in err, err


def case_existing_secret():
    objs = render("-f", os.path.join(CHART, "ci/existing-secret-values.yaml"))
    assert "Secret" not in kinds(objs), "Secret rendered despite existingSecret"
    eq(volumes(objs)["credentials"]["secret"]["secretName"], "helpdesk-api-keys", "existing secret mounted")
    env = {e["name"]: e for e in container(objs)["env"]}
    eq(env["SALES_LIVEAGENT_API_KEY"]["valueFrom"]["secretKeyRef"]["key"], "sales", "extraEnv")
    assert "--web.telemetry-path=/metrics" in container(objs)["args"], "extraArgs appended"
    ann = workload(objs)["spec"]["template"]["metadata"]["annotations"]
    assert "checksum/secret" not in ann and "checksum/config" in ann, f"checksums: {ann}"


def case_demo():
    objs = render("-f", os.path.join(CHART, "ci/demo-values.yaml"))
    c = container(objs)
    assert "--demo" in c["args"], "--demo missing"
    assert not any(a.startswith("--config.file") for a in c["args"]), "config file in demo mode"
    assert "Secret" not in kinds(objs), "Secret in demo mode"
    assert ("ConfigMap", FULLNAME) not in objs, "config ConfigMap in demo mode"
    eq(sorted(volumes(objs)), ["storage", "tmp"], "demo volumes")
    eq(sorted(mounts(objs)), ["storage", "tmp"], "demo mounts")
    assert "--log.format=json" in c["args"] and "--log.level=debug" in c["args"], "log flags"


def case_lifecycle():
    c = container(render("--set", "web.enableLifecycle=true"))
    assert "--web.enable-lifecycle" in c["args"], f"--web.enable-lifecycle missing: {c['args']}"


def case_network_policy():
    assert "NetworkPolicy" not in kinds(render()), "NetworkPolicy rendered while disabled"
    objs = render("--set", "networkPolicy.enabled=true")
    np = objs[("NetworkPolicy", FULLNAME)]
    eq(np["spec"]["policyTypes"], ["Ingress"], "only ingress restricted")
    eq(np["spec"]["ingress"][0]["ports"][0]["port"], "http", "metrics port")


def case_service_account_off():
    objs = render("--set", "serviceAccount.create=false")
    assert "ServiceAccount" not in kinds(objs), "ServiceAccount rendered while disabled"
    eq(pod_spec(objs)["serviceAccountName"], "default", "falls back to default")


def case_common_labels_everywhere():
    objs = render(*MONITORING_API, "-f", os.path.join(CHART, "ci/monitoring-values.yaml"))
    for (kind, name), o in objs.items():
        eq(o["metadata"]["labels"].get("team"), "support-tooling", f"commonLabels on {kind}/{name}")
    eq(workload(objs)["spec"]["template"]["metadata"]["labels"]["team"], "support-tooling", "pod labels")
    assert "team" not in workload(objs)["spec"]["selector"]["matchLabels"], "commonLabels in immutable selector"


def case_image_overrides():
    eq(container(render("--set", "image.tag=9.9.9"))["image"],
       "ghcr.io/helpdesk-sla-exporter/helpdesk-sla-exporter:9.9.9", "tag")
    digest = "sha256:" + "a" * 64
    eq(container(render("--set", f"image.digest={digest}"))["image"],
       f"ghcr.io/helpdesk-sla-exporter/helpdesk-sla-exporter@{digest}", "digest")
    eq(container(render("--set", "image.registry=", "--set", "image.repository=me/x"))["image"],
       "me/x:0.1.0", "no registry")


def case_schema_rejects():
    bad = [
        (["--set", "replicaCount=2"], "replicaCount"),
        (["--set", "image.tagg=1"], "tagg"),
        (["--set", "service.port=abc"], "/service/port"),
        (["--set-string", "persistence.enabled=yes"], "/persistence/enabled"),
        (["--set", "config.sourcez=1"], "sourcez"),
        (["--set", "dashboards.enabledd=true"], "enabledd"),
        (["--set", "serviceMonitor.interval=soon"], "/serviceMonitor/interval"),
        (["--set", "log.level=verbose"], "/log/level"),
        (["--set", "config.sources[0].name=Bad Name"], "/config/sources/0/name"),
        (["--set", "extraArgs=--demo"], "/extraArgs"),
        (["--set", "prometheusRule.alerts.HelpdeskExporterDown.forr=1m"], "forr"),
        (["--set", "prometheusRule.alerts.HelpdeskExporterDown.for=soon"], "/prometheusRule/alerts/HelpdeskExporterDown/for"),
    ]
    for args, needle in bad:
        err = render_fails(*args)
        # helm 4 names the field as a JSON pointer (/service/port), helm 3 dotted (service.port).
        dotted = needle.strip("/").replace("/", ".")
        assert needle in err or dotted in err, f"{args}: error does not mention {needle!r}: {err.strip()}"


# Values whose defaults are Kubernetes or Prometheus Operator objects, or the exporter config: documented
# as one row.
OPAQUE = {"config", "basicAuth", "resources", "podSecurityContext", "securityContext", "livenessProbe", "readinessProbe"}


def value_keys(values, prefix=""):
    """Dotted keys of values.yaml, down to leaves or opaque objects."""
    for k, v in values.items():
        key = prefix + k
        if isinstance(v, dict) and v and k not in OPAQUE:
            yield from value_keys(v, key + ".")
        else:
            yield key


def schema_keys(schema, prefix=""):
    for k, v in schema.get("properties", {}).items():
        key = prefix + k
        if key != "global" and v.get("properties") and k not in OPAQUE:
            yield from schema_keys(v, key + ".")
        elif key != "global":
            yield key


def case_readme_documents_every_value():
    with open(os.path.join(CHART, "README.md")) as f:
        readme = f.read()
    missing = [k for k in value_keys(chart_values()) if f"| `{k}` |" not in readme]
    eq(missing, [], "values missing from the README table")


def case_schema_describes_every_value():
    with open(os.path.join(CHART, "values.schema.json")) as f:
        schema = json.load(f)
    eq(sorted(value_keys(chart_values())), sorted(schema_keys(schema)), "values.yaml keys vs schema keys")
    def closed(node, where):
        # Every object the chart defines is closed; open ones are Kubernetes or exporter pass-throughs.
        if node.get("properties") and where.split(".")[-1] not in ("config",) and "sources" not in where:
            assert node.get("additionalProperties") is False, f"{where or 'root'} accepts unknown keys"
        for k, v in node.get("properties", {}).items():
            closed(v, f"{where}.{k}" if where else k)
    closed(schema, "")


def case_readme_sidecar_matches_chart():
    """The copy-pasteable sidecar spec in the README uses the chart's flags and paths, and is a valid pod."""
    import re
    import tempfile
    with open(os.path.join(CHART, "README.md")) as f:
        readme = f.read()
    section = readme[readme.index("## Sidecar mode"):readme.index("## Security")]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.S)
    (side,), vols = yaml.safe_load(blocks[0]), yaml.safe_load(blocks[1])
    chart = container(render())
    eq(side["args"], chart["args"][:3], "sidecar flags = the chart's config, listen and storage flags")
    eq(sorted(m["mountPath"] for m in side["volumeMounts"]), sorted(mounts(render()).values()), "sidecar mount paths")
    eq(sorted(m["name"] for m in side["volumeMounts"]), sorted(v["name"] for v in vols), "sidecar volumes")
    eq(side["securityContext"], {k: v for k, v in chart["securityContext"].items()}, "sidecar securityContext")
    validator = os.environ.get("KUBERNETES_VALIDATE")
    if validator:
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sidecar"},
               "spec": {"securityContext": {"fsGroup": 65534}, "containers": [side], "volumes": vols}}
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            yaml.safe_dump(pod, f)
            f.flush()
            proc = subprocess.run([validator, "--strict", "--quiet", f.name], capture_output=True, text=True)
        assert proc.returncode == 0, f"sidecar pod invalid: {proc.stdout}{proc.stderr}"


CASES = [(name[len("case_"):], fn) for name, fn in list(globals().items()) if name.startswith("case_")]


def main():
    counts_file = None
    if len(sys.argv) == 3 and sys.argv[1] == "--counts-file":
        counts_file = sys.argv[2]
    passed = failed = 0
    for name, fn in CASES:
        try:
            fn()
        except subprocess.CalledProcessError as e:
            failed += 1
            print(f"FAIL {name}: helm exited {e.returncode}: {e.stderr.strip()}")
        except Exception as e:  # noqa: BLE001 - every failure is reported, none stops the run
            failed += 1
            where = traceback.extract_tb(e.__traceback__)[-1]
            print(f"FAIL {name}: {e} (line {where.lineno})")
        else:
            passed += 1
            print(f"ok   {name}")
    if counts_file:
        with open(counts_file, "w") as f:
            f.write(f"{passed} {failed}\n")
    print(f"render assertions: {passed} ok, {failed} failing")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
