//! The human pages: `/items` and the status page on the real binary running
//! the demo at a fixed instant (a Sunday evening, when only the 24x7 desk
//! works), `/items` CSV equal to `report` for the same instant, and the
//! escaping of every vendor- or user-supplied field that reaches a page.
//!
//! The pages are also rendered in real headless Chromium (Debian `chromium`,
//! installed by `scripts/test`; a missing browser fails the test): one run per
//! page gives the DOM the browser built (asserted on) and a screenshot, kept
//! as a test artifact in `target/tmp/pages/` (`status.png`, `items.png`,
//! `escaping-items.png`, `escaping-status.png`).

mod common;

use std::time::Duration;

use askama::Template;
use common::{Exporter, get};
use helpdesk_sla_exporter::model::{Channel, Target};
use helpdesk_sla_exporter::pages::View;
use helpdesk_sla_exporter::pages::items::{self, Links};
use helpdesk_sla_exporter::pages::status::{Compliance, SourceRow, StatusPage};
use helpdesk_sla_exporter::report::{Row, Stamp};

/// Sunday 2026-11-29 19:30 UTC.
const AT: &str = "2026-11-29T19:30:00Z";
const OPEN: [&str; 4] = ["running", "paused", "at_risk", "breached"];

/// Where the screenshots are kept: `target/tmp/pages/`.
fn artifacts() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("pages");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Loads `url` in headless Chromium once: returns the DOM it built
/// (`--dump-dom`) and writes a screenshot to `target/tmp/pages/<name>.png`,
/// checked to be a PNG of the window's size.
fn browse(url: &str, name: &str, scratch: &std::path::Path) -> String {
    let chromium = common::require_tool("chromium");
    let shot = artifacts().join(format!("{name}.png"));
    let _ = std::fs::remove_file(&shot);
    let profile = scratch.join(format!("chromium-{name}"));
    let out = std::process::Command::new(chromium)
        .args([
            "--headless",
            // Root in CI containers: Chromium's sandbox needs user namespaces.
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1280,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && dom.contains("</html>"),
        "chromium failed on {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot {shot:?}: {e}"));
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{shot:?} is not a PNG");
    // IHDR: width and height, big-endian, at bytes 16..24.
    let size = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    assert_eq!((size(16), size(20)), (1280, 900), "{shot:?} size");
    let _ = std::fs::remove_dir_all(&profile);
    dom
}

/// `(item_id, state)` of every item row of an `/items` DOM, sorted.
fn dom_rows(dom: &str) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = dom
        .split("<tr class=\"item\" data-state=\"")
        .skip(1)
        .map(|row| {
            let state = row.split('"').next().unwrap().to_owned();
            let cell = row.split("<td class=\"id\">").nth(1).unwrap();
            let cell = cell.split("</td>").next().unwrap();
            // The id is the cell's text, inside the agent-panel link if any.
            let id = match cell.find('>') {
                Some(i) if cell.starts_with("<a") => cell[i + 1..].trim_end_matches("</a>"),
                _ => cell,
            };
            (id.to_owned(), state)
        })
        .collect();
    rows.sort();
    rows
}

/// `(item_id, state)` of the JSON rows of an `/items` query, sorted.
fn json_rows(exporter: &Exporter, query: &str) -> Vec<(String, String)> {
    let (_, _, body) = get(&exporter.url(&format!("/items?format=json&limit=1000&{query}")));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut rows: Vec<(String, String)> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["item_id"].as_str().unwrap().to_owned(),
                r["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    rows.sort();
    rows
}

/// The status page and a filtered `/items` in the browser: the DOM holds what
/// the server meant (banner, sources, counts linking into `/items`; exactly the
/// rows of the same query as JSON, all in the filtered state, the filter shown
/// as selected). A later sync can move rows between two reads, so the browser
/// read counts only when the JSON before and after it agree.
fn pages_in_the_browser(exporter: &Exporter, scratch: &std::path::Path) {
    let dom = browse(&exporter.url("/"), "status", scratch);
    assert!(dom.contains("id=\"demo-banner\""), "{dom}");
    assert!(dom.contains("href=\"/items?state=at_risk\""), "{dom}");
    assert!(dom.contains("<td>Technical Support</td>"), "{dom}");
    assert!(dom.contains(">up</span>"), "{dom}");
    assert!(
        !dom.contains("<script"),
        "the status page runs no script: {dom}"
    );

    let query = "state=at_risk&channel=ticket";
    for attempt in 0.. {
        let before = json_rows(exporter, query);
        let dom = browse(
            &exporter.url(&format!("/items?{query}&limit=1000")),
            "items",
            scratch,
        );
        let after = json_rows(exporter, query);
        if before != after && attempt < 3 {
            continue;
        }
        assert_eq!(before, after, "rows kept moving");
        assert!(!before.is_empty(), "no at-risk tickets at {AT}");
        let rows = dom_rows(&dom);
        assert_eq!(rows, before, "the browser shows the rows of the JSON");
        assert!(rows.iter().all(|(_, state)| state == "at_risk"));
        assert!(
            dom.contains("<option value=\"at_risk\" selected=\"\">"),
            "the state filter is shown as selected: {dom}"
        );
        assert!(
            dom.contains("<input name=\"channel\" value=\"ticket\""),
            "{dom}"
        );
        // The page's CSV link (as the browser resolved it) downloads the same
        // rows; the CSV equals `report` for the instant (checked above).
        let href = dom
            .split("<a id=\"csv\" href=\"")
            .nth(1)
            .and_then(|h| h.split('"').next())
            .expect("a CSV link")
            .replace("&amp;", "&");
        let (_, ct, csv) = get(&exporter.url(&href));
        assert_eq!(ct, "text/csv; charset=utf-8", "{href}");
        let mut csv_rows: Vec<(String, String)> = csv_lines(&csv)
            .iter()
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f[2].to_owned(), f[8].to_owned())
            })
            .collect();
        csv_rows.sort();
        assert_eq!(csv_rows, rows, "the page's CSV link gives its rows");
        break;
    }
}

/// Data lines of a CSV body (header dropped), sorted.
fn csv_lines(body: &str) -> Vec<String> {
    let mut lines: Vec<String> = body.lines().skip(1).map(str::to_owned).collect();
    lines.sort();
    lines
}

#[test]
fn demo_pages_list_open_items_that_match_report() {
    let dir = common::scratch("pages-demo");
    let data = dir.join("data");
    let exporter = Exporter::start(
        &[
            "--demo",
            "--storage.path",
            data.to_str().unwrap(),
            "--debug.fixed-time",
            AT,
        ],
        &[],
        &dir,
    );
    // The first full sync reports its success; the evaluation it wakes then
    // brings at-risk rows (readiness alone comes earlier, after a first page).
    let mut synced = false;
    for _ in 0..4800 {
        let metrics = get(&exporter.url("/metrics")).2;
        if metrics.contains("helpdesk_sla_source_last_success_timestamp_seconds{source=\"demo\"} 1")
        {
            synced = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(synced, "the demo never synced: {}", exporter.log_text());
    let mut json = serde_json::Value::Null;
    for _ in 0..600 {
        let (status, _, body) = get(&exporter.url("/items?format=json&limit=1&state=at_risk"));
        assert_eq!(status, 200);
        json = serde_json::from_str(&body).unwrap();
        if json["total"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        json["total"].as_u64().unwrap_or(0) > 0,
        "no at-risk rows after the sync"
    );
    let (_, _, body) = get(&exporter.url("/items?format=json&limit=1"));
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let total = json["total"].as_u64().expect("a total") as usize;
    assert!(total > 0, "no open items: {}", exporter.log_text());
    assert_eq!(json["evaluated_at"], AT);

    // The status page: banner, counts linking into /items, sources, compliance.
    let (status, ct, page) = get(&exporter.url("/"));
    assert_eq!((status, ct.as_str()), (200, "text/html; charset=utf-8"));
    assert!(page.contains("id=\"demo-banner\""), "{page}");
    assert!(page.contains("href=\"/items?state=at_risk\""));
    assert!(page.contains("href=\"/items?state=breached\""));
    assert!(page.contains(">up</span>"), "{page}");
    assert!(page.contains("<td>Technical Support</td>"), "{page}");
    assert!(page.contains("<th>month</th>"), "{page}");

    // Every filter narrows; the state filter keeps only that state, sorted by
    // time to breach.
    for state in ["at_risk", "breached", "running"] {
        let (_, _, body) =
            get(&exporter.url(&format!("/items?format=json&state={state}&limit=1000")));
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let rows = v["items"].as_array().unwrap();
        assert!(!rows.is_empty(), "no {state} items at {AT}");
        assert!(rows.iter().all(|r| r["state"] == state));
        let remaining: Vec<i64> = rows
            .iter()
            .map(|r| r["remaining_seconds"].as_i64().unwrap())
            .collect();
        assert!(
            remaining.windows(2).all(|w| w[0] <= w[1]),
            "{state}: not sorted"
        );
    }
    let (_, _, body) = get(&exporter.url("/items?format=json&team=Technical%20Support&channel=ticket&target=first_response&limit=1000"));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let rows = v["items"].as_array().unwrap();
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|r| r["team"] == "Technical Support" && r["target"] == "first_response")
    );
    assert!((v["total"].as_u64().unwrap() as usize) < total);

    // HTML: the table, a link per row into LiveAgent's agent panel, paging.
    let (_, ct, html) = get(&exporter.url("/items?limit=5"));
    assert_eq!(ct, "text/html; charset=utf-8");
    assert_eq!(html.matches("<tr class=\"item\"").count(), 5.min(total));
    assert!(html.contains("/agent/#Conversation;id="), "{html}");
    assert!(
        html.contains("id=\"next\" href=\"/items?limit=5&#38;offset=5\""),
        "{html}"
    );
    assert_eq!(get(&exporter.url("/items?tema=x")).0, 400);

    // CSV pages add up to the total and equal `report` for the same instant,
    // restricted to open cycles.
    let mut items_csv = Vec::new();
    let mut offset = 0;
    loop {
        let (_, ct, body) =
            get(&exporter.url(&format!("/items?format=csv&limit=1000&offset={offset}")));
        assert_eq!(ct, "text/csv; charset=utf-8");
        let lines = csv_lines(&body);
        if lines.is_empty() {
            break;
        }
        offset += lines.len();
        items_csv.extend(lines);
    }
    // Later syncs may still move a few rows; the count must match the total
    // of the same evaluation, read right after.
    let (_, _, body) = get(&exporter.url("/items?format=json&limit=1"));
    let after: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(items_csv.len() as u64, after["total"].as_u64().unwrap());
    items_csv.sort();
    let config = dir.join("demo.yml");
    std::fs::write(
        &config,
        helpdesk_sla_exporter::demo::config_text("http://127.0.0.1:9/api/v3"),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_helpdesk-sla-exporter"))
        .args([
            "report",
            "--config.file",
            config.to_str().unwrap(),
            "--at",
            AT,
            "--from-store",
        ])
        .args(["--storage.path", data.to_str().unwrap(), "--format", "csv"])
        .env(helpdesk_sla_exporter::demo::DEMO_KEY_ENV, "demo")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8(out.stdout).unwrap();
    let open_report: Vec<String> = csv_lines(&report)
        .into_iter()
        .filter(|l| {
            // state is the 9th column, completed_at the 12th; no demo field
            // holds a comma.
            let f: Vec<&str> = l.split(',').collect();
            OPEN.contains(&f[8]) && f[11].is_empty()
        })
        .collect();
    assert_eq!(items_csv, open_report);

    pages_in_the_browser(&exporter, &dir);
    let _ = std::fs::remove_dir_all(&dir);
}

const EVIL: &str = "<script>alert(\"x\")</script> O'Brien & Čšž 日本 \u{1F600}";

fn evil_row(state: &'static str) -> Row {
    Row {
        source: format!("src{EVIL}").into(),
        channel: Channel::Ticket,
        item_id: format!("id{EVIL}").into(),
        team: format!("team{EVIL}").into(),
        priority: format!("prio{EVIL}").into(),
        policy: format!("policy{EVIL}").into(),
        target: Target::FirstResponse,
        cycle: 1,
        state,
        started_at: Stamp::from(Some("2026-11-29T19:00:00Z".parse().unwrap())),
        due_at: Stamp::default(),
        completed_at: Stamp::default(),
        elapsed_seconds: 60,
        remaining_seconds: 120,
        vendor_verdict: "",
    }
}

fn assert_escaped(html: &str) {
    assert!(!html.contains("<script>"), "raw <script> in:\n{html}");
    assert!(!html.contains("alert(\"x\")"), "raw quotes in:\n{html}");
    // askama writes numeric character references.
    assert!(
        html.contains("&#60;script&#62;alert(&#34;x&#34;)"),
        "{html}"
    );
    assert!(html.contains("O&#39;Brien"), "{html}");
    assert!(
        html.contains("&#38; Čšž 日本 \u{1F600}"),
        "unicode must survive:\n{html}"
    );
}

/// Team names, priorities, policies, source names, ids and error texts come
/// from vendors and users: every one is escaped on both pages, and the link
/// built from an id is percent-encoded.
#[test]
fn every_field_that_reaches_a_page_is_escaped() {
    let at = "2026-11-29T19:30:00Z".parse().unwrap();
    let compliance = vec![Compliance {
        source: format!("src{EVIL}"),
        team: format!("team{EVIL}"),
        policy: format!("policy{EVIL}"),
        target: "resolution",
        window: "7d".into(),
        met: 1,
        total: 2,
        objective: 0.9,
    }];
    let view = View::new(
        at,
        vec![evil_row("at_risk"), evil_row("breached")],
        compliance,
    );
    let links: Links = [(
        format!("src{EVIL}"),
        format!("https://x.example/agent/#Conversation;id={{id}}&q=\"{EVIL}"),
    )]
    .into();
    let query = items::parse(Some("team=team<script>&limit=5")).unwrap();
    // The filter value itself is echoed in the form.
    let (_, html) = items::render(&view, &query, &links, true);
    let html = String::from_utf8(html).unwrap();
    assert!(html.contains("value=\"team&#60;script&#62;\""), "{html}");
    let (_, html) = items::render(&view, &items::parse(None).unwrap(), &links, true);
    let html = String::from_utf8(html).unwrap();
    assert_escaped(&html);
    assert!(
        html.contains("id=id%3Cscript%3Ealert%28%22x%22%29"),
        "{html}"
    );

    let page = StatusPage::new(
        &view,
        vec![SourceRow {
            name: format!("src{EVIL}"),
            kind: "liveagent",
            health: "down",
            last_success: "never".into(),
            age: String::new(),
            tracked: 3,
            last_error: format!("GET /tickets: {EVIL}"),
            progress: format!("42% {EVIL}"),
        }],
        vec!["7d".into(), "month".into()],
        true,
        "/metrics\"><script>".into(),
    );
    let html = page.render().unwrap();
    assert_escaped(&html);
    assert!(html.contains("team=team%3Cscript%3E"), "{html}");

    // In the browser: both pages, as served, parse to text, never to markup.
    // A <script> or an attribute broken out of its quotes would appear as an
    // element in the DOM the browser serializes; escaped text reappears as
    // `&lt;script&gt;` and the quotes as plain characters.
    let dir = common::scratch("pages-escaping");
    let (_, items_html) = items::render(&view, &items::parse(None).unwrap(), &links, true);
    for (name, page) in [
        ("escaping-items", String::from_utf8(items_html).unwrap()),
        ("escaping-status", html.clone()),
    ] {
        let file = dir.join(format!("{name}.html"));
        std::fs::write(&file, page).unwrap();
        let dom = browse(&format!("file://{}", file.display()), name, &dir);
        assert!(
            !dom.contains("<script"),
            "a script element in the DOM:\n{dom}"
        );
        let text = "&lt;script&gt;alert(\"x\")&lt;/script&gt; O'Brien &amp; Čšž 日本 \u{1F600}";
        assert!(
            dom.matches(text).count() >= 4,
            "{name}: the text survives as text:\n{dom}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    // JSON and CSV carry the text as data, not markup.
    let (ct, json) = items::render(
        &view,
        &items::parse(Some("format=json")).unwrap(),
        &links,
        false,
    );
    assert_eq!(ct, "application/json");
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["items"][0]["team"], format!("team{EVIL}"));
    let (_, csv) = items::render(
        &view,
        &items::parse(Some("format=csv")).unwrap(),
        &links,
        false,
    );
    let csv = String::from_utf8(csv).unwrap();
    assert!(
        csv.contains("\"team<script>alert(\"\"x\"\")</script> O'Brien & Čšž 日本 \u{1F600}\""),
        "{csv}"
    );
}
