//! Compact serde forms for the cursor (issue 19). The cursor is written with
//! every page: an id list becomes one string of ids separated by spaces and an
//! instant integer seconds, one JSON string or number instead of a tree of
//! them. A value the short form cannot hold exactly (an id with a space, an
//! instant with a fraction of a second) is written in the old form; both forms
//! are read, so a cursor written by an earlier version still resumes. The
//! overlap set's form (`id,seconds` pairs) is only read now: the set moved to
//! the provider's keyed state ([`super::lists`]).

use std::fmt;

use jiff::Timestamp;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::model::Target;

/// An id the short forms can hold: not empty and without a space (the
/// separator). LiveAgent ids are short alphanumeric strings.
fn plain(id: &str) -> bool {
    !id.is_empty() && !id.contains(' ')
}

/// Whole seconds, which is what the vendor's instants are.
fn whole_seconds(t: Timestamp) -> Option<i64> {
    (t.subsec_nanosecond() == 0).then(|| t.as_second())
}

fn from_seconds<E: de::Error>(s: i64) -> Result<Timestamp, E> {
    Timestamp::from_second(s).map_err(E::custom)
}

/// An instant as integer seconds (an RFC 3339 string when it has a fraction
/// of a second); reads either.
pub(super) mod ts {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        match whole_seconds(*t) {
            Some(secs) => s.serialize_i64(secs),
            None => t.serialize(s),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        d.deserialize_any(TsVisitor)
    }

    struct TsVisitor;

    impl Visitor<'_> for TsVisitor {
        type Value = Timestamp;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an instant: integer seconds or an RFC 3339 string")
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
            from_seconds(v)
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
            from_seconds(i64::try_from(v).map_err(E::custom)?)
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
            v.parse().map_err(E::custom)
        }
    }
}

/// [`ts`] as a type, for instants inside tuples.
struct Secs(Timestamp);

impl Serialize for Secs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ts::serialize(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for Secs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ts::deserialize(d).map(Secs)
    }
}

/// Due instants per target (`CachedLevel::due`) with [`ts`] instants.
pub(super) mod dues {
    use super::*;

    pub fn serialize<S: Serializer>(due: &[(Target, Timestamp)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(due.iter().map(|(t, at)| (t, Secs(*at))))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<(Target, Timestamp)>, D::Error> {
        let due = Vec::<(Target, Secs)>::deserialize(d)?;
        Ok(due.into_iter().map(|(t, at)| (t, at.0)).collect())
    }
}

/// An id list as one string, `"id1 id2 …"`; the old form (a JSON array of
/// strings) when an id is not [`plain`]. Reads either.
pub(super) mod ids {
    use super::*;

    pub fn serialize<S: Serializer>(ids: &[String], s: S) -> Result<S::Ok, S::Error> {
        if ids.iter().all(|id| plain(id)) {
            s.serialize_str(&ids.join(" "))
        } else {
            s.collect_seq(ids)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        d.deserialize_any(IdsVisitor)
    }

    struct IdsVisitor;

    impl<'de> Visitor<'de> for IdsVisitor {
        type Value = Vec<String>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("ids: one string separated by spaces, or an array of strings")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<String>, E> {
            Ok(v.split(' ')
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .collect())
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut ids = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(id) = seq.next_element()? {
                ids.push(id);
            }
            Ok(ids)
        }
    }
}

/// The overlap set (`TicketCursor::recent`) as one string of `id,seconds`
/// pairs separated by spaces; the old form (an array of `[id, instant]`) when
/// an id is not [`plain`] or an instant has a fraction of a second. Reads
/// either, from cursors stored before the set left the cursor.
pub(super) mod recent {
    use super::*;

    /// Versions since issue 19 keep the overlap set in the provider's keyed
    /// state and only read this form; the tests write it to check the reader.
    #[cfg(test)]
    pub fn serialize<S: Serializer>(
        recent: &[(String, Timestamp)],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        use std::fmt::Write;
        let mut text = String::with_capacity(recent.len() * 24);
        for (id, at) in recent {
            let Some(secs) = whole_seconds(*at).filter(|_| plain(id)) else {
                return s.collect_seq(recent);
            };
            if !text.is_empty() {
                text.push(' ');
            }
            write!(text, "{id},{secs}").expect("writing to a String");
        }
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<(String, Timestamp)>, D::Error> {
        d.deserialize_any(RecentVisitor)
    }

    struct RecentVisitor;

    impl<'de> Visitor<'de> for RecentVisitor {
        type Value = Vec<(String, Timestamp)>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("`id,seconds` pairs in one string, or an array of [id, instant]")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            v.split(' ')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (id, secs) = pair
                        .rsplit_once(',')
                        .ok_or_else(|| E::custom(format!("`{pair}` is not `id,seconds`")))?;
                    let secs = secs.parse().map_err(E::custom)?;
                    Ok((id.to_owned(), from_seconds(secs)?))
                })
                .collect()
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut recent = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some((id, at)) = seq.next_element::<(String, Secs)>()? {
                recent.push((id, at.0));
            }
            Ok(recent)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Lists {
        #[serde(with = "ids")]
        ids: Vec<String>,
        #[serde(with = "recent")]
        recent: Vec<(String, Timestamp)>,
        #[serde(with = "ts")]
        at: Timestamp,
        #[serde(with = "dues")]
        due: Vec<(Target, Timestamp)>,
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn short_forms_round_trip() {
        let lists = Lists {
            ids: vec!["a1".into(), "b,2".into()],
            recent: vec![
                ("a1".into(), at("2026-11-30T10:00:00Z")),
                ("b,2".into(), at("2026-11-30T10:00:01Z")),
            ],
            at: at("2026-11-30T10:00:00Z"),
            due: vec![(Target::Resolution, at("2026-12-01T10:00:00Z"))],
        };
        let value = serde_json::to_value(&lists).unwrap();
        assert_eq!(
            value,
            json!({"ids": "a1 b,2", "recent": "a1,1796032800 b,2,1796032801",
                   "at": 1796032800, "due": [["resolution", 1796119200]]})
        );
        assert_eq!(serde_json::from_value::<Lists>(value).unwrap(), lists);
    }

    #[test]
    fn values_the_short_forms_cannot_hold_keep_the_old_form() {
        let lists = Lists {
            ids: vec!["a b".into()],
            recent: vec![("a1".into(), at("2026-11-30T10:00:00.5Z"))],
            at: at("2026-11-30T10:00:00.5Z"),
            due: vec![],
        };
        let value = serde_json::to_value(&lists).unwrap();
        assert_eq!(
            value,
            json!({"ids": ["a b"], "recent": [["a1", "2026-11-30T10:00:00.5Z"]],
                   "at": "2026-11-30T10:00:00.5Z", "due": []})
        );
        assert_eq!(serde_json::from_value::<Lists>(value).unwrap(), lists);
    }

    #[test]
    fn the_old_form_reads() {
        let old = json!({"ids": ["a1", "b2"], "recent": [["a1", "2026-11-30T10:00:00Z"]],
                         "at": "2026-11-30T10:00:00Z",
                         "due": [["first_response", "2026-11-30T11:00:00Z"]]});
        let lists: Lists = serde_json::from_value(old.clone()).unwrap();
        assert_eq!(lists.ids, ["a1", "b2"]);
        assert_eq!(lists.recent, [("a1".into(), at("2026-11-30T10:00:00Z"))]);
        assert_eq!(lists.at, at("2026-11-30T10:00:00Z"));
        assert_eq!(
            lists.due,
            [(Target::FirstResponse, at("2026-11-30T11:00:00Z"))]
        );
        // From text, as the store holds it, too.
        let text: Lists = serde_json::from_str(&old.to_string()).unwrap();
        assert_eq!(text, lists);
    }

    #[test]
    fn a_damaged_short_form_is_an_error_not_a_guess() {
        let bad = json!({"ids": "", "recent": "a1", "at": 0, "due": []});
        assert!(serde_json::from_value::<Lists>(bad).is_err());
        let bad = json!({"ids": "", "recent": "a1,soon", "at": 0, "due": []});
        assert!(serde_json::from_value::<Lists>(bad).is_err());
    }
}
