//! Decoding vendor bodies: a whole JSON body, or a list row by row so one
//! malformed row is quarantined instead of failing its page. Errors and
//! rejected rows name the endpoint and JSON path, never the content.

use crate::providers::{ProviderError, RejectedRow};

/// Decodes a JSON response body into `T`. A failure names the endpoint and the
/// JSON path, never the body (it may hold customer data).
pub fn decode<T: serde::de::DeserializeOwned>(
    endpoint: &str,
    body: &[u8],
) -> Result<T, ProviderError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        ProviderError::Decode {
            endpoint: endpoint.to_owned(),
            reason: format!("at {path}: {}", e.into_inner()),
        }
    })
}

/// Decodes a JSON array of rows, row by row: a row that does not decode is
/// skipped and returned as a [`RejectedRow`] so one bad row never fails the
/// page. A body that is not a JSON array at all is a page-level error. The
/// common case (every row good) is decoded in one pass.
pub fn decode_rows<T: serde::de::DeserializeOwned>(
    endpoint: &str,
    stream: &'static str,
    body: &[u8],
) -> Result<(Vec<T>, Vec<RejectedRow>), ProviderError> {
    if let Ok(rows) = serde_json::from_slice::<Vec<T>>(body) {
        return Ok((rows, Vec::new()));
    }
    let values: Vec<serde_json::Value> = decode(endpoint, body)?;
    Ok(decode_values(stream, values))
}

/// Row-by-row decoding of rows already split out of an envelope (Zendesk's
/// `{"tickets": [...]}`); see [`decode_rows`].
pub fn decode_values<T: serde::de::DeserializeOwned>(
    stream: &'static str,
    values: Vec<serde_json::Value>,
) -> (Vec<T>, Vec<RejectedRow>) {
    let mut rows = Vec::with_capacity(values.len());
    let mut rejected = Vec::new();
    for value in values {
        let id = row_id(&value);
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(row) => rows.push(row),
            Err(e) => {
                let path = e.path().to_string();
                let message = e.into_inner().to_string();
                let field = missing_field(&message)
                    .filter(|_| path == ".")
                    .map_or(path, |f| f.to_owned());
                rejected.push(RejectedRow {
                    stream,
                    id,
                    field,
                    reason: without_values(&message),
                });
            }
        }
    }
    (rows, rejected)
}

/// The row's `id` (or `conversation_id`, `key`) when it is a string or number.
fn row_id(value: &serde_json::Value) -> Option<String> {
    ["id", "conversation_id", "key"]
        .iter()
        .find_map(|k| match value.get(k)? {
            serde_json::Value::String(s) => Some(s.chars().take(64).collect()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
}

/// serde reports a missing field at the row (`.`) and names it in the
/// message (`` missing field `dateCreated` ``): the name is the field.
fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")?
        .split('`')
        .next()
        .filter(|f| !f.is_empty())
}

/// A decoder message with every quoted value blanked out: `invalid type:
/// string "Jane", expected u32` becomes `invalid type: string "…", expected u32`,
/// so a rejected row never leaks customer data into logs.
fn without_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quote = None;
    for c in message.chars() {
        match quote {
            Some(q) if c == q => {
                out.push('…');
                out.push(c);
                quote = None;
            }
            Some(_) => {}
            None if c == '"' => {
                out.push(c);
                quote = Some('"');
            }
            None => out.push(c),
        }
    }
    if quote.is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Row {
        #[allow(dead_code)]
        id: u32,
        #[allow(dead_code)]
        name: String,
    }

    #[test]
    fn one_bad_row_is_rejected_and_the_rest_decode() {
        let body =
            br#"[{"id":1,"name":"a"},{"id":2,"name":7},{"id":3,"name":"c"},{"name":"Jane Doe"}]"#;
        let (rows, rejected) = decode_rows::<Row>("/x", "tickets", body).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rejected.len(), 2);
        assert_eq!(rejected[0].id.as_deref(), Some("2"));
        assert_eq!(rejected[0].field, "name");
        assert_eq!(rejected[0].stream, "tickets");
        assert_eq!(rejected[1].id, None);
        assert!(
            rejected[1].reason.contains("missing field"),
            "{:?}",
            rejected[1]
        );
        assert_eq!(rejected[1].field, "id");
    }

    #[test]
    fn rejected_reasons_never_carry_the_value() {
        let body = br#"[{"id":"x1","name":{"secret":"Jane Doe"}},{"id":"Jane Doe","name":"ok"}]"#;
        let (_, rejected) = decode_rows::<Row>("/x", "tickets", body).unwrap();
        for r in &rejected {
            assert!(!r.reason.contains("Jane"), "{r:?}");
        }
        assert_eq!(
            without_values(r#"invalid value: string "2025-13-01", expected a date"#),
            r#"invalid value: string "…", expected a date"#
        );
    }

    #[test]
    fn a_body_that_is_not_an_array_fails_the_page() {
        let err = decode_rows::<Row>("/x", "tickets", br#"{"error":"x"}"#).unwrap_err();
        assert_eq!(err.reason(), "decode");
    }
}
