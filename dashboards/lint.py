#!/usr/bin/env python3
"""Lint the Grafana dashboards beyond the JSON schema, and extract their PromQL for promtool.

Usage: python3 dashboards/lint.py RULES_OUT

Checks, each reported on its own line:
- schemaVersion >= 39, uid equal to the file name, unique panel ids;
- a `datasource` variable of type datasource (query prometheus) used by every panel and query;
- the overview has multi-value, include-All query variables source, team, policy and target;
- every metric name in a query is a contract name (tests/golden/metrics.txt, histogram
  _bucket/_sum/_count allowed) or a recording rule from alerts/helpdesk-sla.rules.yml.

Writes every panel query and variable selector to RULES_OUT as recording rules, with Grafana's
variables replaced ($__rate_interval -> 5m, $__range -> 1d, $var -> .*), so that
`promtool check rules RULES_OUT` parses them. Standard library only.
"""

import glob
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DS_UID = "${datasource}"
SLA_VARIABLES = ("source", "team", "policy", "target")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def names_in(expr):
    expr = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    expr = re.sub(r"\$\{?\w+\}?", "", expr)
    return set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr))


def recorded_names():
    text = open(os.path.join(ROOT, "alerts", "helpdesk-sla.rules.yml"), encoding="utf-8").read()
    return set(re.findall(r"^\s*- record: (\S+)$", text, re.M))


def substitute(expr):
    expr = expr.replace("$__rate_interval", "5m").replace("$__range", "1d").replace("$__interval", "1m")
    return re.sub(r"\$\{\w+\}|\$\w+", ".*", expr)


def queries(board):
    """(where, expr) for every panel target and every query variable's selector."""
    def walk(panels):
        for p in panels:
            yield p
            yield from walk(p.get("panels", []))

    for p in walk(board.get("panels", [])):
        for t in p.get("targets", []):
            yield f"panel{p['id']}_{t.get('refId')}", t.get("expr", ""), p, t
    for v in board.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.fullmatch(r"label_values\((.*),\s*\w+\)", q)
            yield f"var_{v['name']}", m.group(1) if m else q, None, None


def unit_problems(panel):
    """Counts shown as percent (e.g. 1,574 items as 157400%): every query of a panel whose unit
    is percentunit must be a ratio (a `ratio` series, a division, or seconds per second), unless
    an override gives its query (byFrameRefID) or its renamed table column (byName) another unit.
    Every other non-row panel must say its unit."""
    if panel.get("type") == "row":
        return []
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    unit = defaults.get("unit")
    if not unit:
        return [f"panel {panel.get('id')} {panel.get('title')!r}: no unit"]
    if unit != "percentunit":
        return []
    renamed = {}
    for t in panel.get("transformations", []):
        renamed.update(t.get("options", {}).get("renameByName", {}))
    overridden = set()
    for o in panel.get("fieldConfig", {}).get("overrides", []):
        if any(p["id"] == "unit" for p in o.get("properties", [])):
            overridden.add((o["matcher"]["id"], o["matcher"]["options"]))
    problems = []
    if "budget" in panel.get("title", "").lower() and "min" in defaults and defaults["min"] >= -1:
        problems.append(f"panel {panel.get('id')} {panel.get('title')!r}: min {defaults['min']} hides an "
                        "overspent budget (below -100%)")
    for t in panel.get("targets", []):
        ref = t.get("refId")
        if ("byFrameRefID", ref) in overridden or ("byName", renamed.get(f"Value #{ref}")) in overridden:
            continue
        expr = t.get("expr", "")
        if "ratio" in expr or re.search(r"\)\s*/|/\s*\(", expr) or "_seconds_total" in expr:
            continue
        problems.append(f"panel {panel.get('id')} {panel.get('title')!r} query {ref}: percent unit on a "
                        "query that is not a ratio; give it its own unit in an override")
    return problems


def objective_problems(panel):
    """An objective series on a time series panel is drawn dashed, as the descriptions say."""
    problems = []
    dashed = {o["matcher"]["options"] for o in panel.get("fieldConfig", {}).get("overrides", [])
              if o["matcher"]["id"] == "byFrameRefID"
              and any(p["id"] == "custom.lineStyle" and p["value"].get("fill") == "dash" for p in o["properties"])}
    for t in panel.get("targets", []):
        if panel.get("type") == "timeseries" and t.get("legendFormat", "").startswith("objective") \
                and t.get("refId") not in dashed:
            problems.append(f"panel {panel.get('id')} {panel.get('title')!r} query {t.get('refId')}: "
                            "objective line is not dashed")
    return problems


def main(argv):
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    # The metric contract: every family of the golden /metrics output.
    golden = os.path.join(ROOT, "tests", "golden", "metrics.txt")
    allowed = {l.split()[2] for l in open(golden) if l.startswith("# TYPE ")}
    recorded = recorded_names()
    rules, results = [], []

    for path in sorted(glob.glob(os.path.join(HERE, "*.json"))):
        name = os.path.basename(path)
        board = json.load(open(path, encoding="utf-8"))
        problems = []
        if board.get("schemaVersion", 0) < 39:
            problems.append(f"schemaVersion {board.get('schemaVersion')} < 39")
        if board.get("uid") != name[: -len(".json")]:
            problems.append(f"uid {board.get('uid')!r} is not the file name")
        variables = {v["name"]: v for v in board.get("templating", {}).get("list", [])}
        ds = variables.get("datasource", {})
        if ds.get("type") != "datasource" or ds.get("query") != "prometheus":
            problems.append("no `datasource` variable of type datasource, query prometheus")
        if board["uid"] == "helpdesk-sla-overview":
            for var in SLA_VARIABLES:
                v = variables.get(var, {})
                if not (v.get("type") == "query" and v.get("multi") and v.get("includeAll")):
                    problems.append(f"variable {var} missing, or not multi + includeAll")
        for where, expr, panel, target in queries(board):
            if panel is not None:
                for obj in (panel, target):
                    if obj.get("datasource", {}).get("uid") != DS_UID:
                        problems.append(f"{where} {panel.get('title')!r}: datasource is not {DS_UID}")
            if not expr.strip():
                problems.append(f"{where}: empty query")
                continue
            for n in names_in(expr):
                if ":" in n and n not in recorded:
                    problems.append(f"{where}: recording rule {n} is not defined")
                elif n.startswith("helpdesk_sla_"):
                    base = next((n[: -len(s)] for s in HISTOGRAM_SUFFIXES
                                 if n.endswith(s) and n[: -len(s)] in allowed), n)
                    if base not in allowed:
                        problems.append(f"{where}: {n} is not in tests/golden/metrics.txt")
            # The record name says where a query came from when promtool rejects it.
            rules.append({"record": f"dashboard:{board['uid'].replace('-', '_')}:{where}",
                          "expr": substitute(expr)})
        for p in board.get("panels", []):
            problems += unit_problems(p) + objective_problems(p)
        panel_ids = [p["id"] for p in board.get("panels", [])]
        if len(panel_ids) != len(set(panel_ids)):
            problems.append(f"duplicate panel ids: {sorted(panel_ids)}")
        results.append((not problems, f"{name}: structure, datasource, variables, metric names", problems))

    # promtool accepts JSON as a rule file.
    with open(argv[0], "w", encoding="utf-8") as f:
        json.dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}, f, indent=1)

    failed = 0
    for ok, name, problems in results:
        print(("ok    " if ok else "FAIL  ") + name)
        for p in sorted(set(problems)):
            print("        " + p)
        failed += not ok
    print(f"      {len(rules)} queries written to {argv[0]} for promtool")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
