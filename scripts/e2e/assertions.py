#!/usr/bin/env python3
"""The assertions of scripts/e2e-monitoring, one PASS/FAIL line each (Python standard library only).

Usage:
  assertions.py alerts HOOK_LOG AM_URL TIMEOUT_S EXPORTER_URL
                                                   deliveries, inhibitions, the at-risk -> breach order
                                                   and the items links of the delivered alerts
  assertions.py panels PROM_URL                    every dashboard variable and panel query returns data
  assertions.py down HOOK_LOG TIMEOUT_S            HelpdeskExporterDown pages once the exporter is stopped

The webhook log has one line per POST: arrival time (Unix seconds), path, JSON body.
Waiting is bounded polling (once a second) until every expectation holds or the timeout passes.
"""

import glob
import json
import os
import re
import sys
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNBOOK = "https://example.invalid/set-prometheusRule.runbookBaseUrl#"
SLA_LABELS = ("job", "source", "team", "policy", "target")

# (what, label matchers, webhook path the example routing must send it to)
DELIVERED = [
    ("HelpdeskSLAItemsAboutToBreach warning (team Watch)",
     {"alertname": "HelpdeskSLAItemsAboutToBreach", "severity": "warning", "team": "Watch"}, "/ticket"),
    ("HelpdeskSLAItemsAboutToBreach critical (team Burn: 25 items within 5m)",
     {"alertname": "HelpdeskSLAItemsAboutToBreach", "severity": "critical", "team": "Burn"}, "/pager"),
    ("HelpdeskSLAItemsAtRisk (team Watch)",
     {"alertname": "HelpdeskSLAItemsAtRisk", "team": "Watch"}, "/ticket"),
    ("HelpdeskSLABreached (team Watch)",
     {"alertname": "HelpdeskSLABreached", "team": "Watch"}, "/ticket"),
    ("HelpdeskSLAComplianceBelowObjective (team Compliance, 50% of 30)",
     {"alertname": "HelpdeskSLAComplianceBelowObjective", "team": "Compliance"}, "/ticket"),
    ("HelpdeskSLAErrorBudgetBurn fast tier (team Burn: 25 breaches)",
     {"alertname": "HelpdeskSLAErrorBudgetBurn", "burnrate_tier": "fast", "team": "Burn"}, "/pager"),
    ("HelpdeskSLASourceDown (source flaky: 401 after its first sync)",
     {"alertname": "HelpdeskSLASourceDown", "source": "flaky"}, "/ticket"),
    ("HelpdeskSLASourceDataStale (source flaky; threshold 25s in the e2e)",
     {"alertname": "HelpdeskSLASourceDataStale", "source": "flaky"}, "/pager"),
    ("HelpdeskExporterConfigReloadFailed (bad file, POST /-/reload)",
     {"alertname": "HelpdeskExporterConfigReloadFailed"}, "/ticket"),
    ("HelpdeskE2EWatchdog (the e2e's own always-firing alert)",
     {"alertname": "HelpdeskE2EWatchdog"}, "/ticket"),
]

# (what, matchers, state filter): delivered alerts whose items_url must list their items.
LINKED = [
    ("HelpdeskSLAItemsAtRisk (team Watch)",
     {"alertname": "HelpdeskSLAItemsAtRisk", "team": "Watch"}, {"at_risk"}),
    ("HelpdeskSLABreached (team Watch)",
     {"alertname": "HelpdeskSLABreached", "team": "Watch"}, {"breached"}),
    ("HelpdeskSLAItemsAboutToBreach critical (team Burn)",
     {"alertname": "HelpdeskSLAItemsAboutToBreach", "severity": "critical", "team": "Burn"},
     {"at_risk", "running"}),
]

# (what, matchers): firing in Alertmanager, inhibited, and never delivered.
INHIBITED = [
    ("HelpdeskSLAItemsAboutToBreach warning (team Burn) muted by the critical one (inhibit rule 3)",
     {"alertname": "HelpdeskSLAItemsAboutToBreach", "severity": "warning", "team": "Burn"}),
    ("HelpdeskSLAErrorBudgetBurn medium tier (team Burn) muted by the fast tier (inhibit rule 4)",
     {"alertname": "HelpdeskSLAErrorBudgetBurn", "burnrate_tier": "medium", "team": "Burn"}),
    ("HelpdeskSLAItemsAtRisk (source flaky) muted by HelpdeskSLASourceDown (inhibit rule 1)",
     {"alertname": "HelpdeskSLAItemsAtRisk", "source": "flaky"}),
]

passed = failed = 0


def result(ok, what, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"PASS  {what}" + (f" ({detail})" if detail else ""), flush=True)
    else:
        failed += 1
        print(f"FAIL  {what}" + (f": {detail}" if detail else ""), flush=True)


def matches(labels, matchers):
    return all(labels.get(k) == v for k, v in matchers.items())


def posts(log):
    """[(arrival, path, body)] in arrival order."""
    out = []
    try:
        with open(log, encoding="utf-8") as f:
            for line in f:
                at, path, body = line.rstrip("\n").split("\t", 2)
                out.append((float(at), path, json.loads(body)))
    except FileNotFoundError:
        pass
    return out


def first_delivery(log, matchers):
    """(arrival, path, alert) of the first POST carrying a firing alert that matches, or None."""
    for at, path, body in posts(log):
        for a in body.get("alerts", []):
            if a.get("status") == "firing" and matches(a["labels"], matchers):
                return at, path, a
    return None


def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def am_inhibited(am, matchers):
    try:
        alerts = get_json(f"{am}/api/v2/alerts")
    except OSError:
        return False
    return any(matches(a["labels"], matchers) and a["status"]["inhibitedBy"] for a in alerts)


def wait(timeout, done):
    deadline = time.time() + timeout
    while not done() and time.time() < deadline:
        time.sleep(1)


def check_alert(alert, path, want_path):
    """Problems with a delivered alert: routing, labels, annotations."""
    labels, ann = alert["labels"], alert.get("annotations", {})
    problems = []
    if path != want_path:
        problems.append(f"posted to {path}, want {want_path}")
    want = ["severity", "alert_group"]
    if labels.get("alert_group") == "helpdesk-sla":
        want += SLA_LABELS
    problems += [f"label {k} missing" for k in want if not labels.get(k)]
    if labels["alertname"] != "HelpdeskE2EWatchdog":
        problems += [f"annotation {k} missing" for k in ("summary", "description", "runbook_url")
                     if not ann.get(k)]
        if ann.get("runbook_url") and ann["runbook_url"] != RUNBOOK + labels["alertname"].lower():
            problems.append(f"runbook_url {ann['runbook_url']}")
        text = " ".join(ann.values())
        if "<no value>" in text or "%!" in text or "error executing template" in text:
            problems.append(f"template not rendered: {ann.get('description')!r}")
    return problems


def alerts_phase(log, am, timeout, exporter):
    # An inhibition holds only while both alerts fire (the Burn wave's about-to-breach alerts
    # resolve when its items breach), so each one is recorded when first seen. For the same
    # reason an items link is followed as soon as its alert is delivered: the at-risk items of a
    # link are breached a few seconds later and leave that state.
    seen_inhibited = set()
    links = {}

    def all_there():
        seen_inhibited.update(i for i, (_, m) in enumerate(INHIBITED) if am_inhibited(am, m))
        for i, entry in enumerate(LINKED):
            if i not in links and first_delivery(log, entry[1]):
                links[i] = link_result(log, exporter, entry)
        return (all(first_delivery(log, m) for _, m, _ in DELIVERED)
                and len(seen_inhibited) == len(INHIBITED) and len(links) == len(LINKED))

    wait(timeout, all_there)
    time.sleep(4)  # a group_wait and a group_interval: an inhibited alert would have arrived by now

    for what, m, want_path in DELIVERED:
        hit = first_delivery(log, m)
        if not hit:
            result(False, f"delivered: {what}", "never reached the webhook")
            continue
        problems = check_alert(hit[2], hit[1], want_path)
        result(not problems, f"delivered: {what}", "; ".join(problems) or f"{hit[1]}, labels and annotations complete")

    for i, (what, m) in enumerate(INHIBITED):
        inhibited = i in seen_inhibited
        hit = first_delivery(log, m)
        detail = ("reached the webhook" if hit else "") + ("" if inhibited else " never seen inhibited in Alertmanager")
        result(inhibited and not hit, f"inhibited, not delivered: {what}", detail.strip())

    for i, (what, _, _) in enumerate(LINKED):
        if i in links:
            result(*links[i])
        else:
            result(False, f"items link: {what}", "alert never delivered")

    early = [first_delivery(log, {"alertname": n, "team": "Watch"})
             for n in ("HelpdeskSLAItemsAtRisk", "HelpdeskSLAItemsAboutToBreach")]
    early = min((e for e in early if e), default=None, key=lambda e: e[0])
    breach = first_delivery(log, {"alertname": "HelpdeskSLABreached", "team": "Watch"})
    ok = bool(early and breach and early[0] < breach[0])
    detail = (f"{early[2]['labels']['alertname']} at +0.0s, HelpdeskSLABreached at +{breach[0] - early[0]:.1f}s"
              if early and breach else "one of the two never arrived")
    result(ok, "order: the at-risk alert for ticket watch-1 (team Watch) arrives before its breach alert", detail)


def check_items_link(alert, exporter):
    """Problems with an alert's items_url: it must point at the exporter's /items, answer 200 and
    list only (and at least one of) the items of the alert's source, team, policy and target."""
    url = alert.get("annotations", {}).get("items_url", "")
    if not url.startswith(exporter + "/items?"):
        return [f"items_url {url!r} does not point at {exporter}/items"], 0
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            html = r.read().decode()
        with urllib.request.urlopen(url + "&format=json", timeout=5) as r:
            page = json.load(r)
    except (OSError, ValueError) as e:
        return [f"GET {url}: {e}"], 0
    problems = []
    labels = alert["labels"]
    rows = page.get("items", [])
    if not rows:
        problems.append(f"{url} lists no items")
    for row in rows:
        for k in ("source", "team", "policy", "target"):
            if row.get(k) != labels[k]:
                problems.append(f"row {row.get('item_id')} has {k}={row.get(k)!r}, want {labels[k]!r}")
        if row.get("item_id") and row["item_id"] not in html:
            problems.append(f"the HTML page does not show item {row['item_id']}")
    return problems, rows


def link_result(log, exporter, entry):
    """(ok, what, detail) for one LINKED entry, checked now."""
    what, m, states = entry
    hit = first_delivery(log, m)
    problems, rows = check_items_link(hit[2], exporter)
    bad_state = [r.get("item_id") for r in rows or [] if r.get("state") not in states]
    if bad_state:
        problems.append(f"rows not in state {sorted(states)}: {bad_state}")
    return (not problems, f"items link: {what} resolves on the exporter and lists its items",
            "; ".join(problems) or f"{len(rows)} item(s): " + ", ".join(sorted(r["item_id"] for r in rows)))


def dashboard_queries():
    """(board, panel title, expr) for every variable and panel target, variables substituted."""
    out = []
    for path in sorted(glob.glob(os.path.join(ROOT, "dashboards", "*.json"))):
        board = json.load(open(path, encoding="utf-8"))
        name = os.path.basename(path)
        for v in board.get("templating", {}).get("list", []):
            q = v.get("query")
            q = q.get("query") if isinstance(q, dict) else q
            m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", q or "")
            if v.get("type") == "query" and m:
                out.append((name, f"variable ${v['name']}", f"count by ({m[2]}) ({m[1]})"))

        def walk(panels):
            for p in panels:
                walk(p.get("panels", []))
                for t in p.get("targets", []):
                    out.append((name, f"panel {p.get('id')} {p['title']!r} ({t.get('refId', '')})", t["expr"]))

        walk(board.get("panels", []))
    subst = [(r"\$__rate_interval", "5m"), (r"\$__range", "1h"), (r"\$\{?window\}?", "month"),
             (r"\$\{?\w+\}?", ".*")]
    result_ = []
    for name, what, expr in out:
        for pat, rep in subst:
            expr = re.sub(pat, rep, expr)
        result_.append((name, what, expr))
    return result_


def panels_phase(prom):
    for name, what, expr in dashboard_queries():
        url = f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            data = get_json(url)["data"]["result"]
        except (OSError, KeyError, ValueError) as e:
            result(False, f"{name} {what}", f"query failed: {e}")
            continue
        values = [r["value"][1] for r in data]
        real = [v for v in values if v not in ("NaN", "+Inf", "-Inf")]
        detail = f"{len(data)} series" + ("" if real or not data else ", all NaN")
        result(bool(data), f"{name} {what} returns data", detail if data else f"no series for {expr}")


def down_phase(log, timeout):
    m = {"alertname": "HelpdeskExporterDown"}
    wait(timeout, lambda: first_delivery(log, m))
    hit = first_delivery(log, m)
    problems = check_alert(hit[2], hit[1], "/pager") if hit else ["never reached the webhook"]
    result(not problems, "delivered: HelpdeskExporterDown once the exporter is stopped",
           "; ".join(problems) or "/pager, labels and annotations complete")


def main():
    phase = sys.argv[1]
    if phase == "alerts":
        alerts_phase(sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5])
    elif phase == "panels":
        panels_phase(sys.argv[2])
    elif phase == "down":
        down_phase(sys.argv[2], float(sys.argv[3]))
    else:
        sys.exit(f"unknown phase {phase}")
    print(f"{phase}: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
