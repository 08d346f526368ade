#!/usr/bin/env python3
"""Generate the Grafana dashboards of the helpdesk SLA exporter.

Usage: python3 dashboards/build.py          write helpdesk-sla-overview.json, helpdesk-sla-exporter.json
       python3 dashboards/build.py --check  exit 1 if the committed files differ from a fresh build

Standard library only. Panels are laid out here rather than edited in Grafana so ids, grid
positions and queries stay reviewable; the JSON is checked against Grafana's own dashboard
schema and every query is parsed by promtool (scripts/check-monitoring).
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DS = {"type": "prometheus", "uid": "${datasource}"}
SCHEMA_VERSION = 39

# Filters shared by the panels of the overview board. `job` keeps a second deployment's series
# apart; the recorded series keep `job` because their aggregations use `without`.
SLA = 'job=~"$job", source=~"$source", team=~"$team", policy=~"$policy", target=~"$target"'
# Channel and priority, on every series that keeps them (raw series and the recorded
# channel/priority level); the other recorded levels drop them.
CP = 'channel=~"$channel", priority=~"$priority"'
SLA_CP = f"{SLA}, {CP}"
# Where the exporter's pages are (the dashboard variable `exporter_url`): the at-risk and breach
# panels link to /items. The chart replaces this placeholder like the alerts' items_url base.
EXPORTER_URL_PLACEHOLDER = "https://example.invalid/set-prometheusRule.itemsBaseUrl"
SRC = 'job=~"$job", source=~"$source"'
INST = 'job=~"$job", instance=~"$instance"'
# The targets HelpdeskSLAItemsAboutToBreach watches (alerts/config.yml, about_to_breach.targets):
# chat and call targets are always under 15 minutes while an item waits.
TICKET_TARGETS = 'target=~"first_response|next_response|resolution|assignment"'


# --- building blocks ------------------------------------------------------------------------------


def target(expr, legend="", ref="A", instant=False, fmt="time_series"):
    t = {"datasource": DS, "refId": ref, "expr": expr, "legendFormat": legend or "__auto"}
    if instant:
        t.update({"instant": True, "range": False})
    if fmt != "time_series":
        t["format"] = fmt
    return t


def thresholds(*steps):
    """steps: (value, color) with the first value None (Grafana's -Infinity)."""
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]}


def panel(kind, title, description, targets, unit=None, steps=None, options=None, custom=None,
          mappings=None, minmax=None, transformations=None, overrides=None, links=None):
    defaults = {}
    if unit:
        defaults["unit"] = unit
    if steps:
        defaults["thresholds"] = thresholds(*steps)
        defaults["color"] = {"mode": "thresholds"}
    if custom:
        defaults["custom"] = custom
    if mappings:
        defaults["mappings"] = mappings
    if minmax:
        lo, hi = minmax
        if lo is not None:
            defaults["min"] = lo
        if hi is not None:
            defaults["max"] = hi
    p = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": options or {},
    }
    if links:
        p["links"] = links
    if transformations:
        p["transformations"] = transformations
    return p


def up_down(zero, one):
    return [{"type": "value", "options": {
        "0": {"text": zero, "color": "red", "index": 0},
        "1": {"text": one, "color": "green", "index": 1},
    }}]


def stat(title, description, expr, unit=None, steps=None, legend="", mappings=None, links=None):
    return panel("stat", title, description, [target(expr, legend, instant=True)], unit, steps,
                 options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                          "colorMode": "background", "graphMode": "none", "textMode": "auto"},
                 mappings=mappings, links=links)


def timeseries(title, description, targets, unit=None, stack=False, bars=False, steps=None, overrides=None,
               links=None):
    custom = {"drawStyle": "bars" if bars else "line", "fillOpacity": 60 if bars or stack else 10,
              "lineWidth": 1, "showPoints": "never"}
    if stack:
        custom["stacking"] = {"mode": "normal", "group": "A"}
    if steps:
        custom["thresholdsStyle"] = {"mode": "dashed"}
    return panel("timeseries", title, description, targets, unit, steps, custom=custom,
                 options={"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull"]},
                          "tooltip": {"mode": "multi", "sort": "desc"}},
                 overrides=overrides, links=links)


def override(matcher, value, **props):
    """A field override: matcher is byFrameRefID (a query's refId) or byName (a column)."""
    return {"matcher": {"id": matcher, "options": value},
            "properties": [{"id": k.replace("__", "."), "value": v} for k, v in props.items()]}


def items_link(title, query):
    """A data link (on a field) to the exporter's /items page; `query` may use ${__field.labels.*}."""
    return {"title": title, "url": "${exporter_url}/items?" + query, "targetBlank": True}


def items_panel_link(title, query):
    """A panel link (the panel header's link menu) to the exporter's /items page."""
    return {"title": title, "type": "link", "url": "${exporter_url}/items?" + query, "tags": [],
            "asDropdown": False, "icon": "external link", "includeVars": False, "keepTime": False,
            "targetBlank": True, "tooltip": "Opens the exporter's /items page"}


def row(title):
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


def layout(items):
    """Place panels left to right in rows of 24 columns; `row` panels start a new line."""
    out, x, y, line_h, next_id = [], 0, 0, 0, 1
    for item in items:
        if isinstance(item, tuple):
            p, w, h = item
        else:
            p, w, h = item, 24, 1
        if p["type"] == "row" or x + w > 24:
            x, y, line_h = 0, y + line_h, 0
        p = dict(p, id=next_id, gridPos={"h": h, "w": w, "x": x, "y": y})
        next_id += 1
        out.append(p)
        if p["type"] == "row":
            y += 1
        else:
            x, line_h = x + w, max(line_h, h)
    return out


def query_var(name, label, query, multi=True, description=""):
    v = {
        "name": name, "label": label, "type": "query", "datasource": DS,
        "query": {"query": query, "refId": f"{name}-values", "qryType": 1},
        "refresh": 2, "sort": 1, "regex": "",
        "description": description,
        "current": {"text": "All", "value": "$__all"} if multi else {"text": "", "value": ""},
    }
    if multi:
        v.update({"multi": True, "includeAll": True, "allValue": ".*"})
    else:
        v.update({"multi": False, "includeAll": False})
    return v


def datasource_var():
    return {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
            "current": {"text": "default", "value": "default"}, "regex": "", "refresh": 1,
            "description": "The Prometheus that scrapes the helpdesk SLA exporter."}


def job_var():
    return query_var("job", "Job", "label_values(helpdesk_sla_exporter_build_info, job)", multi=False,
                     description="Scrape job of the exporter.")


def dashboard(uid, title, description, tags, variables, panels, links):
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": tags,
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "1m",
        "time": {"from": "now-24h", "to": "now"},
        "timezone": "browser",
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "weekStart": "",
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
            "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard",
        }]},
        "links": links,
        "templating": {"list": variables},
        "panels": layout(panels),
    }


def link(title, tag):
    return {"title": title, "type": "dashboards", "tags": [tag], "asDropdown": False, "icon": "dashboard",
            "includeVars": False, "keepTime": True, "targetBlank": False, "tooltip": ""}


# --- boards ------------------------------------------------------------------------------------------


def overview():
    # Compliance at the channel/priority level, re-aggregated to team, policy and target after the
    # channel and priority filters: weight each ratio by its sample, sum, divide.
    ratio_cp = "source_team_policy_target_channel_priority_window:helpdesk_sla_compliance:ratio"
    items_cp = "source_team_policy_target_channel_priority_window:helpdesk_sla_compliance_items:sum"
    objective = "policy_target:helpdesk_sla_objective_ratio:max"
    win = f'{SLA_CP}, window="$window"'
    month = f'{SLA_CP}, window="month"'

    def items_sum(sel):
        return f"sum without (channel, priority) ({items_cp}{{{sel}}})"

    def ratio(sel):
        return f"(sum without (channel, priority) ({ratio_cp}{{{sel}}} * {items_cp}{{{sel}}}) / ({items_sum(sel)} > 0))"

    def budget(sel):
        # 1 = the whole budget left, 0 = spent, negative = overspent (e.g. -300%).
        return f"1 - (1 - {ratio(sel)}) / on (policy, target) group_left () (1 - {objective})"

    def breach_ratio(window):
        drop = "instance, pod, container, channel, priority, outcome"
        return (f'sum without ({drop}) (rate(helpdesk_sla_outcomes_total{{{SLA_CP}, outcome="breached"}}[{window}]))\n'
                f"/\n(sum without ({drop}) (rate(helpdesk_sla_outcomes_total{{{SLA_CP}}}[{window}])) > 0)")

    pct = [(None, "red"), (0.9, "yellow"), (0.95, "green")]
    by_sla = "{{team}} {{policy}}/{{target}}"
    count = {"unit": "none", "decimals": 0}
    panels = [
        row("Now"),
        (stat("Items at risk now", "Open items in the at_risk state (remaining time below the target's at_risk setting). The panel link opens them in the exporter's /items.",
              f'sum(helpdesk_sla_open_items{{{SLA_CP}, state="at_risk"}}) or vector(0)',
              unit="none", steps=[(None, "green"), (1, "orange")],
              links=[items_panel_link("Items at risk (/items)", "state=at_risk")]), 4, 4),
        (stat("Breaching within 15m", "Open ticket items with under 15 minutes of business time left (time-to-breach histogram). The panel link opens the open ticket items, soonest first.",
              f'sum(helpdesk_sla_time_to_breach_seconds_bucket{{{SLA_CP}, le=~"900|900[.]0", {TICKET_TARGETS}}}) or vector(0)',
              unit="none", steps=[(None, "green"), (1, "orange")],
              links=[items_panel_link("Open ticket items, soonest breach first (/items)",
                                "state=at_risk,running&target=first_response,next_response,resolution,assignment")]), 4, 4),
        (stat("Breaches in range", "Items that breached a target during the dashboard's time range. The panel link opens the breached items that are still open.",
              f'sum(increase(helpdesk_sla_outcomes_total{{{SLA_CP}, outcome="breached"}}[$__range])) or vector(0)',
              unit="none", steps=[(None, "green"), (1, "red")],
              links=[items_panel_link("Breached items still open (/items)", "state=breached")]), 4, 4),
        (stat("Compliance this month", "Month-to-date met / (met + breached), weighted by sample size across the selection.",
              f"sum({ratio_cp}{{{month}}} * {items_cp}{{{month}}}) / sum({items_cp}{{{month}}})",
              unit="percentunit", steps=pct), 4, 4),
        (stat("Items completed this month", "The sample behind the month-to-date compliance: ratios on few items are noisy.",
              f"sum({items_cp}{{{month}}})", unit="none", steps=[(None, "blue")]), 4, 4),
        (stat("Open items", "All open items being timed, paused, at risk or breached.",
              f"sum(helpdesk_sla_open_items{{{SLA_CP}}}) or vector(0)", unit="none", steps=[(None, "blue")]), 4, 4),
        row("Compliance"),
        (panel("table", "Compliance vs objective", "Per team, policy and target for the selected window: compliance and objective (percent), the sample size (items) and the share of error budget left (percent; negative: overspent, e.g. -300% = three budgets).",
               [target(ratio(win), ref="A", instant=True, fmt="table"),
                target(f"0 * {ratio(win)} + on (policy, target) group_left () {objective}", ref="B", instant=True, fmt="table"),
                target(items_sum(win), ref="C", instant=True, fmt="table"),
                target(budget(win), ref="D", instant=True, fmt="table")],
               unit="percentunit",
               overrides=[override("byName", "Items", **count)],
               transformations=[
                   {"id": "merge", "options": {}},
                   {"id": "organize", "options": {
                       "excludeByName": {"Time": True, "job": True, "window": True},
                       "indexByName": {"source": 0, "team": 1, "policy": 2, "target": 3, "Value #A": 4,
                                       "Value #B": 5, "Value #C": 6, "Value #D": 7},
                       "renameByName": {"Value #A": "Compliance", "Value #B": "Objective",
                                        "Value #C": "Items", "Value #D": "Budget left"}}},
               ],
               options={"showHeader": True, "cellHeight": "sm", "footer": {"show": False, "reducer": ["sum"], "fields": ""}}),
         14, 9),
        (panel("bargauge", "Error budget left this month", "1 - (1 - compliance) / (1 - objective), month to date: 100% untouched, 0 spent, below 0 overspent (no lower bound: -300% is three budgets spent).",
               [target(budget(month), by_sla, instant=True)], unit="percentunit",
               steps=[(None, "red"), (0, "orange"), (0.25, "green")], minmax=(None, 1),
               options={"orientation": "horizontal", "displayMode": "gradient", "showUnfilled": True,
                        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}),
         10, 9),
        (timeseries("Compliance over time", "Compliance of the selected window (solid) with each target's objective (dashed line).",
                    [target(ratio(win), by_sla, "A"),
                     target(f"{objective}{{policy=~\"$policy\", target=~\"$target\"}}", "objective {{policy}}/{{target}}", "B")],
                    unit="percentunit",
                    overrides=[override("byFrameRefID", "B", custom__lineStyle={"fill": "dash", "dash": [10, 10]},
                                        custom__fillOpacity=0, custom__lineWidth=2)]), 12, 8),
        (timeseries("Breach ratio", "Breached / all outcomes over the last hour and day, for the selected channels and priorities (the burn-rate alerts divide these by 1 - objective).",
                    [target(breach_ratio("1h"), "1h " + by_sla, "A"),
                     target(breach_ratio("1d"), "1d " + by_sla, "B")],
                    unit="percentunit"), 12, 8),
        row("Items"),
        (timeseries("Breaches", "Items that breached a target, per team and target. Click a series for its breached items still open in /items.",
                    [target(f'sum by (source, team, target) (increase(helpdesk_sla_outcomes_total{{{SLA_CP}, outcome="breached"}}[$__rate_interval]))', "{{team}} {{target}}")],
                    unit="none", bars=True, stack=True,
                    overrides=[override("byFrameRefID", "A", links=[items_link(
                        "Breached items of ${__field.labels.team} ${__field.labels.target} (/items)",
                        "source=${__field.labels.source:percentencode}&team=${__field.labels.team:percentencode}"
                        "&target=${__field.labels.target:percentencode}&state=breached")])]), 12, 8),
        (timeseries("Open items by state", "Open items per state: running, paused, at_risk and breached (still open after breaching). Click a series for those items in /items.",
                    [target(f"sum by (state) (helpdesk_sla_open_items{{{SLA_CP}}})", "{{state}}")], unit="none", stack=True,
                    overrides=[override("byFrameRefID", "A", links=[items_link(
                        "${__field.labels.state} items (/items)", "state=${__field.labels.state:percentencode}")])]), 12, 8),
        (panel("bargauge", "Time to breach", "Open, not yet breached items (count) by remaining business time (histogram buckets, de-accumulated).",
               [target(f"sum by (le) (helpdesk_sla_time_to_breach_seconds_bucket{{{SLA_CP}}})", "{{le}}", instant=True, fmt="heatmap")],
               unit="none", steps=[(None, "blue")],
               options={"orientation": "vertical", "displayMode": "basic", "showUnfilled": True,
                        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}), 12, 8),
        (timeseries("Completion time p90", "90th percentile of elapsed business time at completion, per target.",
                    [target(f"histogram_quantile(0.9, sum by (le, target) (rate(helpdesk_sla_completion_elapsed_seconds_bucket{{{SLA_CP}}}[$__rate_interval])))", "{{target}}")],
                    unit="s"), 12, 8),
    ]
    variables = [
        datasource_var(),
        job_var(),
        query_var("source", "Source", 'label_values(helpdesk_sla_source_up{job=~"$job"}, source)'),
        # Teams with open items or any ended cycle, so teams whose items are all
        # closed still appear.
        query_var("team", "Team", 'label_values({__name__=~"helpdesk_sla_open_items|helpdesk_sla_outcomes_total", job=~"$job", source=~"$source"}, team)'),
        query_var("policy", "Policy", 'label_values(helpdesk_sla_objective_ratio{job=~"$job"}, policy)'),
        query_var("target", "Target", 'label_values(helpdesk_sla_objective_ratio{job=~"$job", policy=~"$policy"}, target)'),
        query_var("channel", "Channel", 'label_values({__name__=~"helpdesk_sla_open_items|helpdesk_sla_outcomes_total", job=~"$job", source=~"$source"}, channel)',
                  description="ticket, chat or call."),
        query_var("priority", "Priority", 'label_values({__name__=~"helpdesk_sla_open_items|helpdesk_sla_outcomes_total", job=~"$job", source=~"$source"}, priority)',
                  description="Helpdesk priority, capped per source by metrics.label_limits (rare values fold into `other`)."),
        {"name": "window", "label": "Window", "type": "custom", "query": "month,7d,30d",
         "current": {"text": "month", "value": "month"}, "multi": False, "includeAll": False,
         "options": [{"text": w, "value": w, "selected": w == "month"} for w in ("month", "7d", "30d")],
         "description": "Compliance window: month to date, or a rolling window configured in metrics.compliance_windows."},
        {"name": "exporter_url", "label": "Exporter URL", "type": "textbox", "query": EXPORTER_URL_PLACEHOLDER,
         "current": {"text": EXPORTER_URL_PLACEHOLDER, "value": EXPORTER_URL_PLACEHOLDER}, "hide": 2,
         "description": "The exporter as your browser reaches it, for the links to /items (chart: prometheusRule.itemsBaseUrl)."},
    ]
    return dashboard("helpdesk-sla-overview", "Helpdesk SLA overview",
                     "SLA compliance, breaches, items at risk and error budget per team, policy and target.",
                     ["helpdesk-sla"], variables, panels, [link("Exporter", "helpdesk-sla")])


def exporter():
    up = [(None, "red"), (1, "green")]
    panels = [
        row("Health"),
        (stat("Exporter up", "Prometheus scrape of each exporter instance.", f"up{{{INST}}}", legend="{{instance}}",
              unit="none", steps=up, mappings=up_down("DOWN", "UP")), 4, 4),
        (stat("Sources up", "Whether the last sync of each source succeeded.", f"helpdesk_sla_source_up{{{SRC}}}",
              unit="none", legend="{{source}}", steps=up, mappings=up_down("FAILING", "OK")), 8, 4),
        (stat("Config reload", "Whether the last configuration reload succeeded.",
              f"helpdesk_sla_exporter_config_last_reload_successful{{{INST}}}", legend="{{instance}}",
              unit="none", steps=up, mappings=up_down("FAILED", "OK")), 4, 4),
        (stat("Since last good reload", "Time since the last successful configuration reload.",
              f"time() - helpdesk_sla_exporter_config_last_reload_success_timestamp_seconds{{{INST}}}",
              unit="s", legend="{{instance}}", steps=[(None, "blue")]), 4, 4),
        (panel("table", "Build", "Version, revision and compiler of each instance.",
               [target(f"helpdesk_sla_exporter_build_info{{{INST}}}", instant=True, fmt="table")],
               unit="none",
               transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True, "__name__": True, "job": True}}}],
               options={"showHeader": True, "cellHeight": "sm", "footer": {"show": False, "reducer": ["sum"], "fields": ""}}), 4, 4),
        row("Sources"),
        (timeseries("Data age", "Seconds since each source's last successful sync; the stale alert fires above 30 minutes.",
                    [target(f"time() - helpdesk_sla_source_last_success_timestamp_seconds{{{SRC}}}", "{{source}}")],
                    unit="s", steps=[(None, "green"), (1800, "red")]), 12, 8),
        (timeseries("Sync duration", "Duration of each source's last sync.",
                    [target(f"helpdesk_sla_source_sync_duration_seconds{{{SRC}}}", "{{source}}")], unit="s"), 12, 8),
        (timeseries("API requests by status class", "Vendor API requests per second by source, endpoint and status class.",
                    [target(f"sum by (source, endpoint, status_class) (rate(helpdesk_sla_source_api_requests_total{{{SRC}}}[$__rate_interval]))",
                            "{{source}} {{endpoint}} {{status_class}}")], unit="reqps", stack=True), 12, 8),
        (timeseries("Sync errors by reason", "Failed syncs per second by reason (auth, rate_limited, status, decode, timeout, connect, body_too_large).",
                    [target(f"sum by (source, reason) (rate(helpdesk_sla_source_sync_errors_total{{{SRC}}}[$__rate_interval]))",
                            "{{source}} {{reason}}")], unit="ops", stack=True), 12, 8),
        (timeseries("Rate-limit waits", "Share of wall time spent waiting on rate limits (left) and waits per second; the alert fires above 50% for 30m.",
                    [target(f"sum by (source) (rate(helpdesk_sla_source_rate_limit_wait_seconds_total{{{SRC}}}[$__rate_interval]))", "{{source}} time waiting", "A"),
                     target(f"sum by (source) (rate(helpdesk_sla_source_rate_limit_waits_total{{{SRC}}}[$__rate_interval]))", "{{source}} waits/s", "B")],
                    unit="percentunit",
                    overrides=[override("byFrameRefID", "B", unit="ops", custom__axisPlacement="right")]), 12, 8),
        (timeseries("Items synced", "Items fetched per second by source and channel.",
                    [target(f"sum by (source, channel) (rate(helpdesk_sla_source_items_synced_total{{{SRC}}}[$__rate_interval]))",
                            "{{source}} {{channel}}")], unit="ops", stack=True), 12, 8),
        row("Process"),
        (timeseries("CPU", "CPU seconds per second used by the exporter process.",
                    [target(f"rate(process_cpu_seconds_total{{{INST}}}[$__rate_interval])", "{{instance}}")], unit="percentunit"), 8, 8),
        (timeseries("Resident memory", "Resident set size of the exporter process.",
                    [target(f"process_resident_memory_bytes{{{INST}}}", "{{instance}}")], unit="bytes"), 8, 8),
        (timeseries("Label values folded", "Team or priority values folded into `other` by metrics.label_limits: raise the limit if this grows.",
                    [target(f"sum by (label) (increase(helpdesk_sla_label_values_folded_total{{{INST}}}[$__rate_interval]))", "{{label}}")],
                    unit="none"), 8, 8),
    ]
    variables = [
        datasource_var(),
        job_var(),
        query_var("instance", "Instance", 'label_values(helpdesk_sla_exporter_build_info{job=~"$job"}, instance)'),
        query_var("source", "Source", 'label_values(helpdesk_sla_source_up{job=~"$job"}, source)'),
    ]
    return dashboard("helpdesk-sla-exporter", "Helpdesk SLA exporter",
                     "Health of the helpdesk SLA exporter: scrapes, source syncs, vendor API, rate limits, configuration, process.",
                     ["helpdesk-sla"], variables, panels, [link("SLA overview", "helpdesk-sla")])


def main(argv):
    outputs = {
        os.path.join(HERE, "helpdesk-sla-overview.json"): overview(),
        os.path.join(HERE, "helpdesk-sla-exporter.json"): exporter(),
    }
    stale = []
    for path, board in outputs.items():
        text = json.dumps(board, indent=2) + "\n"
        current = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        if current == text:
            continue
        if "--check" in argv:
            stale.append(os.path.relpath(path))
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    if stale:
        print("out of date (run python3 dashboards/build.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
