//! A fast loopback mock of the LiveAgent v3 API for the sync benchmarks.
//!
//! Rows are generated once (`bench/data.rs`) and kept as pre-rendered JSON; a
//! page is a binary search plus a join, so the mock costs little next to the
//! client. It honours what the LiveAgent provider sends: `/tickets` keyset
//! paging (`date_changed D>=`, `_page`, `_perPage`), `/tickets/history` with a
//! `conversation_id IN` filter and `_cursor` / `next_page_cursor`, `/chats`
//! pages on `date_created`, `/calls` cursors on `dateCreated`, and the short
//! `/departments`, `/slas`, `/tags` and `/settings` lists, and one ticket with
//! its SLA level (`/tickets/{id}`, `/tickets/{id}/sla`).
//!
//! Control endpoints (not part of the API, never in the access log):
//! `GET /-/stats` (requests per endpoint since the last reset), `GET /-/log`
//! (the path and query of every API request since the last reset, in order),
//! `POST /-/reset`, and `POST /-/mutate?fraction=0.01` (see `Data::mutate`).
//!
//! Usage: `bench-mock --listen 127.0.0.1:PORT [--tickets N] [--chats N]
//! [--calls N] [--departments N] [--seed S] [--latency-ms MS]`; prints
//! `listening on ADDR`. `--latency-ms` delays every API response, to compare
//! the exporter with the bare client at a vendor's round-trip time rather
//! than loopback's.

#[path = "data.rs"]
mod data;

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, RwLock};

use data::{Data, Sizes};
use helpdesk_sla_exporter::providers::liveagent::map::parse_time;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;

/// LiveAgent's largest `_perPage`.
const MAX_PER_PAGE: usize = 1000;

struct State {
    /// Added before every API response.
    latency: std::time::Duration,
    data: RwLock<Data>,
    /// `ticket id -> index into data.tickets`, rebuilt after a mutation.
    index: RwLock<HashMap<String, usize>>,
    stats: Mutex<(BTreeMap<String, u64>, Vec<String>)>,
}

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_owned())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let num = |name: &str, default: &str| -> usize {
        arg(&args, name, default)
            .parse()
            .unwrap_or_else(|_| panic!("{name} wants a number"))
    };
    let sizes = Sizes {
        tickets: num("--tickets", "100000"),
        chats: num("--chats", "20000"),
        calls: num("--calls", "20000"),
        departments: num("--departments", "50"),
    };
    let seed = num("--seed", "42") as u64;
    let now = jiff::Timestamp::now().as_second();
    let started = std::time::Instant::now();
    let data = data::generate(sizes, seed, now);
    let rows: usize = data.tickets.iter().map(|t| t.history.len()).sum();
    eprintln!(
        "generated {} tickets ({rows} history rows), {} chats, {} calls in {:.1}s",
        data.tickets.len(),
        data.chats.len(),
        data.calls.len(),
        started.elapsed().as_secs_f64()
    );
    let latency = std::time::Duration::from_millis(num("--latency-ms", "0") as u64);
    let state = Arc::new(State {
        latency,
        index: RwLock::new(index(&data)),
        data: RwLock::new(data),
        stats: Mutex::new(Default::default()),
    });
    let listener = TcpListener::bind(arg(&args, "--listen", "127.0.0.1:0")).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(_) => continue,
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move {
                    if !state.latency.is_zero() && !req.uri().path().starts_with("/-/") {
                        tokio::time::sleep(state.latency).await;
                    }
                    Ok::<_, Infallible>(handle(&state, req))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn index(d: &Data) -> HashMap<String, usize> {
    d.tickets
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id.clone(), i))
        .collect()
}

struct Reply {
    status: u16,
    next_cursor: Option<String>,
    body: String,
}

fn ok(body: String) -> Reply {
    Reply {
        status: 200,
        next_cursor: None,
        body,
    }
}

fn error(status: u16, msg: &str) -> Reply {
    Reply {
        status,
        next_cursor: None,
        body: format!(r#"{{"message":"{msg}"}}"#),
    }
}

fn handle(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let query: HashMap<String, String> = req
        .uri()
        .query()
        .map(|q| {
            reqwest::Url::parse(&format!("http://mock/?{q}"))
                .map(|u| u.query_pairs().into_owned().collect())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    let reply = if let Some(control) = path.strip_prefix("/-/") {
        control_endpoint(state, control, &query)
    } else {
        {
            let mut stats = state.stats.lock().expect("stats lock");
            let endpoint = path.strip_prefix("/api/v3").unwrap_or(&path).to_owned();
            *stats.0.entry(endpoint).or_default() += 1;
            let pq = req
                .uri()
                .path_and_query()
                .map_or(path.clone(), |p| p.to_string());
            stats.1.push(pq);
        }
        if req.headers().get("apikey").is_none() {
            error(401, "missing apikey header")
        } else {
            api(state, &path, &query)
        }
    };
    let mut response = Response::builder()
        .status(reply.status)
        .header("content-type", "application/json");
    if let Some(c) = reply.next_cursor {
        response = response.header("next_page_cursor", c);
    }
    response
        .body(Full::new(Bytes::from(reply.body)))
        .expect("valid response")
}

fn control_endpoint(state: &State, what: &str, query: &HashMap<String, String>) -> Reply {
    match what {
        "stats" => {
            let stats = state.stats.lock().expect("stats lock");
            let total: u64 = stats.0.values().sum();
            ok(serde_json::json!({"total": total, "endpoints": stats.0}).to_string())
        }
        "log" => {
            let stats = state.stats.lock().expect("stats lock");
            let mut body = stats.1.join("\n");
            body.push('\n');
            ok(body)
        }
        "reset" => {
            *state.stats.lock().expect("stats lock") = Default::default();
            ok("{}".into())
        }
        "mutate" => {
            let fraction: f64 = query
                .get("fraction")
                .and_then(|f| f.parse().ok())
                .unwrap_or(0.01);
            let now = jiff::Timestamp::now().as_second();
            let mut data = state.data.write().expect("data lock");
            let (tickets, chats, calls) = data.mutate(fraction, now);
            *state.index.write().expect("index lock") = index(&data);
            ok(serde_json::json!({"tickets": tickets, "chats": chats, "calls": calls}).to_string())
        }
        _ => error(404, "unknown control endpoint"),
    }
}

/// The `D>=`/`IN` value of `field` in `_filters`, if any.
fn filter(query: &HashMap<String, String>, field: &str, op: &str) -> Option<String> {
    let raw = query.get("_filters")?;
    let filters: Vec<(String, String, String)> = serde_json::from_str(raw).ok()?;
    filters
        .into_iter()
        .find(|(f, o, _)| f == field && o == op)
        .map(|(_, _, v)| v)
}

fn since(query: &HashMap<String, String>, field: &str) -> i64 {
    filter(query, field, "D>=")
        .and_then(|v| parse_time(&v))
        .map_or(i64::MIN, |t| t.as_second())
}

fn per_page(query: &HashMap<String, String>) -> usize {
    query
        .get("_perPage")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10usize)
        .clamp(1, MAX_PER_PAGE)
}

/// `_page` (page style) as an offset.
fn page_offset(query: &HashMap<String, String>, per_page: usize) -> usize {
    let page: usize = query
        .get("_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1usize)
        .max(1);
    (page - 1) * per_page
}

/// `_cursor` (cursor style) as an offset; the mock's cursors are `o<offset>`.
fn cursor_offset(query: &HashMap<String, String>) -> Option<usize> {
    match query.get("_cursor") {
        None => Some(0),
        Some(c) => c.strip_prefix('o')?.parse().ok(),
    }
}

fn join<'a>(rows: impl Iterator<Item = &'a str>) -> String {
    let mut body = String::with_capacity(64 * 1024);
    body.push('[');
    for (i, r) in rows.enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(r);
    }
    body.push(']');
    body
}

fn api(state: &State, path: &str, query: &HashMap<String, String>) -> Reply {
    let path = path.strip_prefix("/api/v3").unwrap_or(path);
    let per_page = per_page(query);
    let data = state.data.read().expect("data lock");
    // `GET /tickets/{ticketId}` (the list's row) and `GET /tickets/{ticketId}/sla`
    // (`TicketSla`: every generated ticket is on one level, without due
    // instants): the provider reads both for the SLA level of new and changed
    // open tickets, and a 404 would tell it the ticket is gone.
    if let Some(rest) = path.strip_prefix("/tickets/")
        && rest != "history"
    {
        let (id, sla) = match rest.strip_suffix("/sla") {
            Some(id) => (id, true),
            None => (rest, false),
        };
        let index = state.index.read().expect("index lock");
        let Some(&i) = index.get(id) else {
            return error(404, "ticket not found");
        };
        return if sla {
            ok(
                json!({"conversationid": id, "sla_level_id": "std", "sla_level_name": "Standard"})
                    .to_string(),
            )
        } else {
            ok(data.tickets[i].row.clone())
        };
    }
    match path {
        "/ping" => ok("{}".into()),
        "/departments" => {
            let from = page_offset(query, per_page);
            let rows: Vec<String> = (0..data.departments.len())
                .skip(from)
                .take(per_page)
                .map(|d| {
                    serde_json::json!({"department_id": data::dept_id(d), "agent_count": 4,
                        "name": data::dept_name(d), "online_status": "I", "agent_ids": [],
                        "mailaccount_id": null})
                    .to_string()
                })
                .collect();
            ok(join(rows.iter().map(String::as_str)))
        }
        "/slas" => ok("[]".into()),
        // Read once per process (time zone check) and hourly (tag names):
        // a UTC account, and the one tag the generated tickets carry.
        "/settings" => ok(r#"[{"name":"TIMEZONE","value":"UTC"}]"#.into()),
        "/tags" => ok(r#"[{"id":"vip","name":"vip"}]"#.into()),
        "/tickets" => {
            let since = since(query, "date_changed");
            let start = data.tickets.partition_point(|t| t.changed < since);
            let from = start + page_offset(query, per_page);
            ok(join(
                data.tickets
                    .iter()
                    .skip(from)
                    .take(per_page)
                    .map(|t| t.row.as_str()),
            ))
        }
        "/tickets/history" => {
            let Some(from) = cursor_offset(query) else {
                return error(400, "invalid _cursor");
            };
            let ids = filter(query, "conversation_id", "IN").unwrap_or_default();
            let index = state.index.read().expect("index lock");
            let mut rows: Vec<&(i64, String, String)> = ids
                .split(',')
                .filter_map(|id| index.get(id.trim()))
                .flat_map(|&i| data.tickets[i].history.iter())
                .collect();
            rows.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
            let mut reply = ok(join(
                rows.iter().skip(from).take(per_page).map(|r| r.2.as_str()),
            ));
            if from + per_page < rows.len() {
                reply.next_cursor = Some(format!("o{}", from + per_page));
            }
            reply
        }
        "/chats" => {
            let since = since(query, "date_created");
            let start = data.chats.partition_point(|c| c.created < since);
            let from = start + page_offset(query, per_page);
            ok(join(
                data.chats
                    .iter()
                    .skip(from)
                    .take(per_page)
                    .map(|c| c.row.as_str()),
            ))
        }
        "/calls" => {
            let Some(offset) = cursor_offset(query) else {
                return error(400, "invalid _cursor");
            };
            let since = since(query, "dateCreated");
            let start = data.calls.partition_point(|c| c.created < since);
            let from = start + offset;
            let mut reply = ok(join(
                data.calls
                    .iter()
                    .skip(from)
                    .take(per_page)
                    .map(|c| c.row.as_str()),
            ));
            if from + per_page < data.calls.len() {
                reply.next_cursor = Some(format!("o{}", offset + per_page));
            }
            reply
        }
        _ => error(404, "not found"),
    }
}
