//! Mutations of vendor JSON pages for the fault suites' property tests: a
//! scalar replaced by a hostile value, a run of bytes cut, a byte overwritten.

use proptest::prelude::*;

/// Values a mutation may put in place of a JSON scalar.
pub const VALUES: &[&str] = &[
    "null",
    "0",
    "-1",
    "1e309",
    "18446744073709551616",
    "\"\"",
    "\"9999-12-31 23:59:59\"",
    "\"0000-00-00 00:00:00\"",
    "\"-271821-04-20 00:00:00\"",
    "\"2025-02-30 10:00:00\"",
    "\"\\ud800\"",
    "\"X\"",
    "\"B\"",
    "[]",
    "{}",
    "true",
    "\"\\u0000\"",
    "\"2025-01-01T00:00:00+25:00\"",
    "\"2025-01-01T00:00:00.000+0100\"",
    "\"9999-12-31T23:59:59Z\"",
    "-9223372036854775808",
];

pub fn mutate(body: &[u8], edits: &[(prop::sample::Index, usize, &str, u8)]) -> Vec<u8> {
    let mut body = body.to_vec();
    for (at, op, value, byte) in edits {
        let i = at.index(body.len() + 1);
        match op {
            // Replace the scalar after the next `:` with one of VALUES.
            0 => {
                if let Some(colon) = body[i..].iter().position(|&b| b == b':') {
                    let start = i + colon + 1;
                    let end = body[start..]
                        .iter()
                        .position(|&b| b == b',' || b == b'}')
                        .map_or(body.len(), |p| start + p);
                    body.splice(start..end, value.bytes());
                }
            }
            1 => {
                let end = (i + usize::from(byte % 32)).min(body.len());
                body.drain(i..end);
            }
            _ => {
                if i < body.len() {
                    body[i] = *byte;
                }
            }
        }
    }
    body
}
