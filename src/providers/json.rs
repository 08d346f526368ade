//! Field helpers for the vendors' raw JSON types (`raw.rs`): the shapes every
//! vendor sends loosely.

use serde::{Deserialize, Deserializer};

#[derive(Deserialize)]
#[serde(untagged)]
enum IdValue {
    S(String),
    N(serde_json::Number),
}

/// An id sent as a string or a number; null or empty is an error naming no value.
pub fn id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    opt_id(d)?.ok_or_else(|| serde::de::Error::custom("missing id"))
}

/// An id sent as a string or a number; null and the empty string are absent.
pub fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<IdValue>::deserialize(d)? {
        None => None,
        Some(IdValue::S(s)) if s.is_empty() => None,
        Some(IdValue::S(s)) => Some(s),
        Some(IdValue::N(n)) => Some(n.to_string()),
    })
}

/// A list that may be null.
pub fn null_vec<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Row {
        #[serde(deserialize_with = "super::id")]
        id: String,
        #[serde(default, deserialize_with = "super::opt_id")]
        group: Option<String>,
        #[serde(default, deserialize_with = "super::null_vec")]
        tags: Vec<String>,
    }

    fn row(json: &str) -> Result<Row, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn ids_come_as_numbers_or_strings_and_lists_may_be_null() {
        let r = row(r#"{"id": 42, "group": "", "tags": null}"#).unwrap();
        assert_eq!((r.id.as_str(), r.group, r.tags.len()), ("42", None, 0));
        let r = row(r#"{"id": "a1", "group": 7, "tags": ["x"]}"#).unwrap();
        assert_eq!(
            (r.id.as_str(), r.group.as_deref(), r.tags.len()),
            ("a1", Some("7"), 1)
        );
        assert!(row(r#"{"id": null}"#).unwrap_err().contains("missing id"));
        assert!(row(r#"{"id": ""}"#).unwrap_err().contains("missing id"));
        assert!(row(r#"{"id": true}"#).is_err());
    }
}
