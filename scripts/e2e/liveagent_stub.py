#!/usr/bin/env python3
"""A controllable LiveAgent v3 API for scripts/e2e-monitoring (Python standard library only).

Usage: liveagent_stub.py PORT [T0]   (T0: Unix seconds the scenario is anchored at; default now)

Every item is placed relative to T0 (the wall clock when the stub starts), so that with the
policies scripts/e2e-monitoring configures (24x7, first_response within 2m, at_risk 80%) each SLA alert
class of alerts/ has something to fire on a minute or two later. Times are "YYYY-MM-DD HH:MM:SS"
UTC, bodies are bare JSON arrays shaped like tests/fixtures/liveagent/*.json, and events in the
future are not served yet: a reply at T0+25s appears in the API at T0+25s, as from the real one.

Sources are told apart by the `apikey` header:
  e2e-good   source `helpdesk`: every scenario below;
  e2e-flaky  source `flaky`: one ticket; its first sync succeeds, then every request gets 401
             (so the exporter keeps serving its last good data with helpdesk_sla_source_up 0);
  other      401, as from the real API.

Scenario of `helpdesk` (team = LiveAgent department):
  Watch       one open ticket due at T0+45s: at risk from the start, breaches during the test
              (the at-risk -> breach order assertion), plus one old breach so the breached
              counter series exists before it grows (Prometheus ignores a new series' first value);
  Burn        25 open tickets due at T0+50s (a wave: AboutToBreach critical, then 25 breaches in one
              evaluation: error-budget burn) plus one old breach, for the same reason;
  Compliance  30 answered tickets of the last 2 hours, half late: compliance 50% over >= 20 items;
  Live        a ticket answered at T0+25s and a chat picked up at T0+15s (completions during the
              test, for the completion-time panel), plus an old answered ticket;
  chats/calls two of each, one met and one missed, 1-2 hours old.
"""

import http.server
import json
import sys
import threading
import time
import urllib.parse
from datetime import datetime, timezone

PORT = int(sys.argv[1])
T0 = int(sys.argv[2]) if len(sys.argv) > 2 else int(time.time())

DEPARTMENTS = {"d-watch": "Watch", "d-burn": "Burn", "d-comp": "Compliance", "d-live": "Live",
               "d-flaky": "Flaky"}


def ts(offset):
    return datetime.fromtimestamp(T0 + offset, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def ticket(tid, dept, created, changes):
    """A ticket created at T0+`created` whose status history is [(offset, letter), ...] after
    `N` at creation. Only the changes up to now are visible."""
    return {"id": tid, "dept": dept, "created": created, "changes": changes}


def build_scenario():
    good = []
    good.append(ticket("watch-old", "d-watch", -3600, []))
    good.append(ticket("watch-1", "d-watch", -75, []))
    good.append(ticket("burn-old", "d-burn", -3600, []))
    good += [ticket(f"burn-{i:02}", "d-burn", -70, []) for i in range(25)]
    for i in range(30):
        created = -7200 + i * 120
        good.append(ticket(f"comp-{i:02}", "d-comp", created, [(created + (30 if i % 2 else 600), "A")]))
    good.append(ticket("live-old", "d-live", -5400, [(-5400 + 40, "A")]))
    good.append(ticket("live-1", "d-live", -20, [(25, "A")]))
    chats = [
        {"id": "chat-met", "created": -7200, "started": -7200 + 20, "dept": "d-live"},
        {"id": "chat-missed", "created": -7000, "started": None, "dept": "d-live"},
        {"id": "chat-live", "created": -10, "started": 15, "dept": "d-live"},
    ]
    calls = [
        {"id": "call-met", "created": -7200, "answered": -7200 + 10, "finished": -7200 + 100},
        {"id": "call-missed", "created": -7100, "answered": None, "finished": -7100 + 60},
    ]
    flaky = [ticket("flaky-1", "d-flaky", 0, [])]
    return {"e2e-good": (good, chats, calls), "e2e-flaky": (flaky, [], [])}


SCENARIO = build_scenario()
flaky_synced = threading.Event()  # set once the flaky source finished its first sync (/calls)


def visible_history(t, now):
    rows = [(t["created"], "N")] + [c for c in t["changes"] if c[0] <= now]
    out = []
    for i, (start, letter) in enumerate(rows):
        end = rows[i + 1][0] if i + 1 < len(rows) else None
        out.append({"id": f"{t['id']}-h{i}", "conversation_id": t["id"], "department_id": t["dept"],
                    "department_name": DEPARTMENTS[t["dept"]], "agent_id": None, "agent_name": None,
                    "status": letter, "date_from": ts(start), "date_to": ts(end) if end is not None else None,
                    "elapsed_time": (end - start) if end is not None else None})
    return out


def ticket_json(t, now):
    hist = visible_history(t, now)
    last = hist[-1]
    changed = t["created"] if len(hist) == 1 else max(c[0] for c in t["changes"] if c[0] <= now)
    return {"id": t["id"], "code": t["id"].upper(), "owner_contactid": "c1", "owner_email": "x@example.com",
            "owner_name": "X", "departmentid": t["dept"], "agentid": None, "status": last["status"],
            "tags": [], "channel_type": "E", "date_created": ts(t["created"]), "date_changed": ts(changed),
            "date_resolved": None, "date_due": None, "date_deleted": None, "last_activity": ts(changed),
            "last_activity_public": ts(changed), "public_access_urlcode": "u", "subject": "e2e",
            "custom_fields": []}


def chat_json(c, now):
    started = c["started"] if c["started"] is not None and c["started"] <= now else None
    done = started is not None or (c["started"] is None and now - c["created"] > 300)
    return {"id": c["id"], "subject": "e2e", "preview": "", "chat_order": 1, "date_created": ts(c["created"]),
            "status_date_started": ts(started) if started is not None else None, "tags": [],
            "rstatus": "R" if done else "I", "departmentId": c["dept"], "agentId": None,
            "status": "T" if done else "Q", "emails": []}


def call_json(c, now):
    return {"id": c["id"], "ticketId": None, "type": "I", "fromNumber": "+1", "fromName": "X",
            "toNumber": "+2", "toName": "Support", "viaNumber": "+2", "dateCreated": ts(c["created"]),
            "dateAnswered": ts(c["answered"]) if c["answered"] is not None else None,
            "dateFinished": ts(c["finished"]), "callDuration": "60"}


class Api(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        key = self.headers.get("apikey", "")
        if key not in SCENARIO or (key == "e2e-flaky" and flaky_synced.is_set()):
            return self.send(401, {"message": "Invalid API key"})
        tickets, chats, calls = SCENARIO[key]
        now = time.time() - T0
        first_page = query.get("_page", ["1"])[0] == "1"
        path = url.path.removeprefix("/api/v3")
        if path == "/departments":
            body = [{"department_id": k, "name": v, "agent_count": 1, "online_status": "I",
                     "agent_ids": [], "mailaccount_id": "m"} for k, v in DEPARTMENTS.items()]
        elif path == "/slas":
            body = []
        elif path == "/tickets":
            body = [ticket_json(t, now) for t in tickets if t["created"] <= now]
        elif path == "/tickets/history":
            ids = set()
            for f in json.loads(query.get("_filters", ["[]"])[0]):
                if f[0] == "conversation_id":
                    ids |= set(f[2].split(","))
            body = [r for t in tickets if t["id"] in ids and t["created"] <= now
                    for r in visible_history(t, now)]
        elif path == "/chats":
            body = [chat_json(c, now) for c in chats if c["created"] <= now]
        elif path == "/calls":
            body = [call_json(c, now) for c in calls if c["created"] <= now]
            if key == "e2e-flaky":
                flaky_synced.set()
        else:
            return self.send(404, {"message": "not found"})
        self.send(200, body if first_page or path == "/tickets/history" else [])

    def send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Api).serve_forever()
