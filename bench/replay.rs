//! The bare-client baseline: GET the URLs the exporter fetched during its first
//! sync, in the same order, one at a time, with the same headers, reading each
//! body to the end and doing nothing else. The exporter's sync time divided by
//! this is the overhead of everything the exporter does besides downloading.
//!
//! Usage: `bench-replay BASE_ORIGIN URL_LOG` where BASE_ORIGIN is
//! `http://127.0.0.1:PORT` and URL_LOG holds one path-and-query per line (the
//! mock's `/-/log`). Prints one JSON line: requests, bytes, seconds.

use std::time::Instant;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (origin, log) = match args.as_slice() {
        [_, origin, log] => (origin.trim_end_matches('/').to_owned(), log),
        _ => return Err("usage: bench-replay BASE_ORIGIN URL_LOG".into()),
    };
    let urls: Vec<String> = std::fs::read_to_string(log)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| format!("{origin}{l}"))
        .collect();
    let client = reqwest::Client::builder().build()?;
    let started = Instant::now();
    let mut bytes = 0usize;
    let mut not_found = 0usize;
    for url in &urls {
        let response = client
            .get(url.as_str())
            .header("apikey", "bench")
            .header("timezone-offset", "0")
            .send()
            .await?;
        // The exporter's probes of undocumented filters are answered 404 by
        // the mock, as by the real API; the exporter read those too.
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            not_found += 1;
        } else {
            response.error_for_status_ref()?;
        }
        bytes += response.bytes().await?.len();
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        r#"{{"requests":{},"not_found":{not_found},"bytes":{bytes},"seconds":{seconds:.4}}}"#,
        urls.len()
    );
    Ok(())
}
