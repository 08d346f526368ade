#!/usr/bin/env python3
"""Lint the helpdesk SLA rules beyond what `promtool check rules` knows about.

Usage: python3 alerts/lint.py

Checks, each reported on its own line:
- every alert has severity (critical|warning|info), a static summary, a templated description
  and a runbook_url of <runbook_base_url>#<alertname lowercased> whose section exists;
- every alert rule (name + static labels) fires in some promtool test, and every alert name is
  asserted silent at some evaluation (the "just before `for`" case);
- every recording rule is asserted by a promql_expr_test;
- every metric name used in rules and tests is a contract name (tests/golden/metrics.txt,
  histogram _bucket/_sum/_count allowed) or a recording rule defined here.

Needs PyYAML (scripts/check-monitoring installs it when missing).
"""

import glob
import os
import re
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # keep alerts/ free of __pycache__
import build  # noqa: E402  (reads runbook_base_url from the same config the rules come from)

SEVERITIES = {"critical", "warning", "info"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def rules_of(path):
    for group in load(path)["groups"]:
        yield from group["rules"]


def names_in(expr):
    """Metric-like identifiers of a PromQL expression, string literals removed."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    return set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr))


def metric_problems(expr, allowed, recorded, where):
    problems = []
    for name in names_in(expr):
        if ":" in name:
            if name not in recorded:
                problems.append(f"{where}: recording rule {name} is not defined")
        elif name.startswith("helpdesk_sla_"):
            base = name
            for suffix in HISTOGRAM_SUFFIXES:
                if name.endswith(suffix) and name[: -len(suffix)] in allowed:
                    base = name[: -len(suffix)]
            if base not in allowed:
                problems.append(f"{where}: {name} is not in tests/golden/metrics.txt")
    return problems


def main():
    cfg = build.parse_config(open(build.CONFIG, encoding="utf-8").read())
    base = cfg["runbook_base_url"]
    runbook = open(os.path.join(HERE, "runbook.md"), encoding="utf-8").read()
    anchors = {h.strip().lower() for h in re.findall(r"^#+\s+(.+)$", runbook, re.M)}
    # The metric contract: every family of the golden /metrics output.
    golden = os.path.join(os.path.dirname(HERE), "tests", "golden", "metrics.txt")
    allowed = {l.split()[2] for l in open(golden) if l.startswith("# TYPE ")}
    recording = list(rules_of(build.RULES_OUT))
    alerts = list(rules_of(build.ALERTS_OUT))
    recorded = {r["record"] for r in recording}
    tests = {p: load(p) for p in sorted(glob.glob(os.path.join(HERE, "tests", "*.yml")))}

    results = []  # (ok, message)

    def check(name, problems):
        results.append((not problems, name, problems))

    # Alert metadata.
    problems = []
    for a in alerts:
        name, labels, ann = a["alert"], a.get("labels", {}), a.get("annotations", {})
        if labels.get("severity") not in SEVERITIES:
            problems.append(f"{name}: severity {labels.get('severity')!r}")
        if not ann.get("summary") or "{{" in ann["summary"]:
            problems.append(f"{name}: summary must be a static sentence")
        if not re.search(r"\$(labels|value)", ann.get("description", "")):
            problems.append(f"{name}: description uses neither $labels nor $value")
        if ann.get("runbook_url") != f"{base}#{name.lower()}":
            problems.append(f"{name}: runbook_url {ann.get('runbook_url')!r}")
        if name.lower() not in anchors:
            problems.append(f"{name}: no section '{name}' in alerts/runbook.md")
        if not a.get("for"):
            problems.append(f"{name}: no `for`")
    check(f"{len(alerts)} alert rules have severity, summary, description, runbook_url and a runbook section", problems)

    # Alert tests: every rule fires somewhere, every name is asserted silent somewhere.
    fired, silent = [], set()
    for t in tests.values():
        for case in t.get("tests", []):
            for at in case.get("alert_rule_test", []) or []:
                exp = at.get("exp_alerts") or []
                if not exp:
                    silent.add(at["alertname"])
                for e in exp:
                    fired.append((at["alertname"], e.get("exp_labels", {}), e.get("exp_annotations", {})))
    problems = []
    for a in alerts:
        static = {k: str(v) for k, v in a.get("labels", {}).items()}
        hit = [f for f in fired if f[0] == a["alert"] and all(str(f[1].get(k)) == v for k, v in static.items())]
        if not hit:
            problems.append(f"{a['alert']} {static}: never asserted firing")
        elif not any(set(h[2]) >= {"summary", "description", "runbook_url"} for h in hit):
            problems.append(f"{a['alert']} {static}: annotations never asserted")
        if a["alert"] not in silent:
            problems.append(f"{a['alert']}: never asserted silent")
    check("every alert rule is tested firing (labels + annotations) and silent", problems)

    # Recording rule tests.
    asserted = set()
    for t in tests.values():
        for case in t.get("tests", []):
            for pt in case.get("promql_expr_test", []) or []:
                if pt.get("exp_samples"):
                    asserted |= names_in(pt["expr"])
    missing = sorted(recorded - asserted)
    check(f"{len(recorded)} recording rules each have a promql_expr_test with samples",
          [f"{m}: no promql_expr_test" for m in missing])

    # Metric names.
    problems = []
    for r in recording + alerts:
        problems += metric_problems(r["expr"], allowed, recorded, r.get("record") or r.get("alert"))
    for path, t in tests.items():
        where = os.path.relpath(path)
        for case in t.get("tests", []):
            for s in case.get("input_series", []):
                problems += metric_problems(s["series"].split("{")[0], allowed, recorded, where)
            for pt in case.get("promql_expr_test", []) or []:
                problems += metric_problems(pt["expr"], allowed, recorded, where)
    check("rules and tests use only contract metric names and defined recording rules", sorted(set(problems)))

    failed = 0
    for ok, name, problems in results:
        print(("ok    " if ok else "FAIL  ") + name)
        for p in problems:
            print("        " + p)
        failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
