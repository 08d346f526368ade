//! gzip for `/metrics`: Prometheus sends `Accept-Encoding: gzip`, and the
//! exposition text (label names repeated on every line) shrinks about tenfold.
//!
//! Only gzip is offered, and only when the client asks for it with a non-zero
//! quality; everything else gets the identity encoding. `flate2` with its pure
//! Rust backend does the compression, so no C zlib is needed in the image.

use flate2::Compression;
use flate2::write::GzEncoder;
use hyper::HeaderMap;
use hyper::header::ACCEPT_ENCODING;
use std::io::Write;

/// The level trades CPU per scrape for bytes: level 1 is several times faster
/// than the default 6 and loses only a few percent of the ratio on exposition
/// text, whose redundancy is in long repeated label sets (bench/RESULTS.md).
const LEVEL: Compression = Compression::fast();

/// Whether any `Accept-Encoding` header lists `gzip` (or `x-gzip`, or `*`)
/// with a quality above zero, per RFC 9110 §12.5.3.
pub(super) fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let wanted = coding.eq_ignore_ascii_case("gzip")
                || coding.eq_ignore_ascii_case("x-gzip")
                || coding == "*";
            wanted && parts.all(|p| !is_zero_quality(p))
        })
}

/// `q=0`, `q=0.0`, `q=0.000`: the client refuses this coding.
fn is_zero_quality(param: &str) -> bool {
    let Some((name, value)) = param.split_once('=') else {
        return false;
    };
    name.trim().eq_ignore_ascii_case("q") && value.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
}

/// Compresses a whole body. Writing into a `Vec` cannot fail.
pub(super) fn compress(body: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::with_capacity(body.len() / 8 + 64), LEVEL);
    enc.write_all(body).expect("writing to a Vec");
    enc.finish().expect("writing to a Vec")
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn accepts(values: &[&str]) -> bool {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
        }
        accepts_gzip(&h)
    }

    #[test]
    fn negotiation_follows_the_accept_encoding_header() {
        for (values, want) in [
            (&[][..], false),
            (&["gzip"][..], true),
            (&["GZip"][..], true),
            (&["identity"][..], false),
            (&["deflate, gzip;q=0.5"][..], true),
            (&["gzip;q=0"][..], false),
            (&["gzip; q=0.000"][..], false),
            (&["br", "x-gzip"][..], true),
            (&["*"][..], true),
            (&["gzipped"][..], false),
        ] {
            assert_eq!(accepts(values), want, "{values:?}");
        }
    }

    #[test]
    fn compress_round_trips() {
        use std::io::Read;
        let text = "helpdesk_sla_open_items{source=\"support\"} 1\n".repeat(100);
        let packed = compress(text.as_bytes());
        assert!(packed.len() < text.len() / 5, "{} bytes", packed.len());
        let mut out = String::new();
        flate2::read::GzDecoder::new(&packed[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, text);
    }
}
