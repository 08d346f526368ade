//! A bound on what a YAML document expands to. yaml_serde resolves an alias
//! (`*a`) by replaying the anchored node, and bounds only how often it jumps
//! (100 jumps per event of the document): one large anchor repeated by many
//! aliases still expands to billions of nodes, which the vendor blocks (kept
//! as [`yaml_serde::Value`]) would hold in memory. [`check`] walks the document
//! once, keeping nothing, and stops as soon as it has seen `limit` nodes.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

/// Counts the nodes of `text` as serde sees them (aliases expanded). Errors
/// with a reason when the count passes `limit`; a syntax error is left to the
/// real deserialization, which names the key path.
pub(super) fn check(text: &str, limit: usize) -> Result<(), String> {
    let mut seen = 0usize;
    let mut walk = Walk {
        seen: &mut seen,
        limit,
    };
    for document in yaml_serde::Deserializer::from_str(text) {
        match (&mut walk).deserialize(document) {
            Ok(()) => {}
            Err(e) if e.to_string().contains(TOO_MANY) => {
                return Err(format!(
                    "the YAML expands to more than {limit} nodes once its aliases are resolved; \
                     repeat less through anchors and aliases"
                ));
            }
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

const TOO_MANY: &str = "too many YAML nodes";

struct Walk<'a> {
    seen: &'a mut usize,
    limit: usize,
}

impl Walk<'_> {
    fn count<E: de::Error>(&mut self) -> Result<(), E> {
        *self.seen += 1;
        if *self.seen > self.limit {
            return Err(E::custom(TOO_MANY));
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for &mut Walk<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for &mut Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.count()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.count()
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        self.count()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.count()
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        self.count()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.count()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.count()
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<(), E> {
        self.count()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.count()
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.count()
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.count()?;
        d.deserialize_any(self)
    }
    fn visit_newtype_struct<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.count()?;
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.count()?;
        while seq.next_element_seed(&mut *self)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.count()?;
        while map.next_key_seed(&mut *self)?.is_some() {
            map.next_value_seed(&mut *self)?;
        }
        Ok(())
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        use de::VariantAccess;
        self.count()?;
        let ((), variant) = data.variant_seed(&mut *self)?;
        variant.newtype_variant_seed(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_expanded_aliases() {
        // The map, its key, the sequence and its three items.
        assert_eq!(check("a: [1, 2, 3]\n", 6), Ok(()));
        assert!(check("a: [1, 2, 3]\n", 5).is_err());
        let laughs =
            "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n";
        // The map, 2 keys, 11 (a), and 1 + 10 * 11 (b): 125.
        assert_eq!(check(laughs, 125), Ok(()));
        assert!(check(laughs, 124).is_err());
    }

    #[test]
    fn leaves_syntax_errors_to_the_real_parse() {
        assert_eq!(check("a: [1, 2", 10), Ok(()));
    }
}
