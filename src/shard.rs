//! Sharding: which sources this replica owns when several replicas share one
//! configuration (`--shard.index`/`--shard.count`, or the StatefulSet ordinal
//! taken from the pod name).
//!
//! There is no coordination between replicas: each one hashes every source
//! name with a hash that never changes between builds or machines (FNV-1a,
//! 64 bit) and maps the hash to a shard with jump consistent hashing (Lamping
//! and Veach, 2014). Every source therefore lives in exactly one replica, and
//! growing from `n` to `n + 1` shards moves only about `1 / (n + 1)` of the
//! sources (each to the new shard), so a resize re-pulls few accounts.

use std::fmt;

/// This replica's share of the configured sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Shard {
    /// One replica owning every source (no sharding).
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` of `count`; `index` must be below `count`.
    pub fn new(index: u32, count: u32) -> Result<Shard, String> {
        if count == 0 {
            return Err("--shard.count must be at least 1".into());
        }
        if index >= count {
            return Err(format!(
                "--shard.index {index} is out of range for --shard.count {count} (0 to {})",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }

    /// The shard from the flags: `--shard.index` when given; otherwise, with
    /// more than one shard, the ordinal at the end of `hostname` (a
    /// StatefulSet pod is named `<set>-<ordinal>` and that is its hostname).
    pub fn resolve(
        index: Option<u32>,
        count: u32,
        hostname: impl FnOnce() -> Option<String>,
    ) -> Result<Shard, String> {
        match index {
            Some(i) => Shard::new(i, count),
            None if count <= 1 => Shard::new(0, count),
            None => {
                let name = hostname().ok_or(
                    "--shard.count is above 1 but there is no --shard.index and no hostname to take the StatefulSet ordinal from",
                )?;
                let ordinal = ordinal(&name).ok_or_else(|| {
                    format!(
                        "--shard.count is above 1 and no --shard.index was given, but the hostname {name:?} does not end in a StatefulSet ordinal (\"<name>-<number>\")"
                    )
                })?;
                Shard::new(ordinal, count)
            }
        }
    }

    pub fn index(&self) -> u32 {
        self.index
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    /// Whether this replica syncs and serves the source named `name`.
    pub fn owns(&self, name: &str) -> bool {
        self.count == 1 || shard_of(name, self.count) == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of {}", self.index, self.count)
    }
}

/// The shard (`0..count`) that owns the source named `name`.
pub fn shard_of(name: &str, count: u32) -> u32 {
    jump(fnv1a64(name.as_bytes()), count.max(1))
}

/// The ordinal a StatefulSet gives its pod, from the pod's name or hostname
/// (`exporter-2` → 2).
pub fn ordinal(hostname: &str) -> Option<u32> {
    let (_, digits) = hostname.rsplit_once('-')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// FNV-1a, 64 bit: specified to the byte, so every build on every machine
/// agrees on it (std's `DefaultHasher` makes no such promise).
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Jump consistent hash: a bucket in `0..buckets` for `key`, moving a key
/// only to the new bucket when `buckets` grows.
fn jump(mut key: u64, buckets: u32) -> u32 {
    let mut b: i64 = -1;
    let mut j: i64 = 0;
    while j < i64::from(buckets) {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        // From the FNV reference (Fowler, Noll, Vo): the offset basis and two
        // short strings.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn every_source_has_exactly_one_owner() {
        for count in 1..=12 {
            for n in 0..500 {
                let name = format!("account-{n}");
                let owners: Vec<u32> = (0..count)
                    .filter(|&i| Shard::new(i, count).unwrap().owns(&name))
                    .collect();
                assert_eq!(owners.len(), 1, "{name} with {count} shards: {owners:?}");
                assert_eq!(owners[0], shard_of(&name, count));
            }
        }
    }

    #[test]
    fn growing_by_one_shard_moves_sources_only_to_the_new_shard() {
        for count in 1..12 {
            let mut moved = 0;
            for n in 0..2000 {
                let name = format!("msp-customer-{n}");
                let (before, after) = (shard_of(&name, count), shard_of(&name, count + 1));
                if before != after {
                    assert_eq!(after, count, "{name} moved from {before} to {after}");
                    moved += 1;
                }
            }
            // About 2000 / (count + 1) move; allow a wide margin for chance.
            let expected = 2000 / (count + 1);
            assert!(
                moved > expected / 2 && moved < expected * 3 / 2,
                "{moved} of 2000 moved when growing to {} shards",
                count + 1
            );
        }
    }

    #[test]
    fn shards_get_similar_shares() {
        let count = 5;
        let mut per = [0u32; 5];
        for n in 0..5000 {
            per[shard_of(&format!("helpdesk-{n}"), count) as usize] += 1;
        }
        for share in per {
            assert!((800..1200).contains(&share), "shares {per:?}");
        }
    }

    #[test]
    fn the_ordinal_comes_from_the_pod_name() {
        assert_eq!(ordinal("helpdesk-sla-exporter-0"), Some(0));
        assert_eq!(ordinal("helpdesk-sla-exporter-12"), Some(12));
        assert_eq!(ordinal("helpdesk-sla-exporter"), None);
        assert_eq!(ordinal("exporter-7f9c8d-x2b4q"), None);
        assert_eq!(ordinal("exporter-"), None);
        assert_eq!(ordinal("exporter-+3"), None);
    }

    #[test]
    fn resolve_prefers_the_flag_then_the_hostname() {
        let host = || Some("hse-2".to_owned());
        assert_eq!(
            Shard::resolve(Some(1), 3, host),
            Ok(Shard::new(1, 3).unwrap())
        );
        assert_eq!(Shard::resolve(None, 3, host), Ok(Shard::new(2, 3).unwrap()));
        assert_eq!(Shard::resolve(None, 1, || None), Ok(Shard::ALL));
        assert_eq!(
            Shard::resolve(None, 2, host).unwrap_err(),
            "--shard.index 2 is out of range for --shard.count 2 (0 to 1)"
        );
        assert!(
            Shard::resolve(None, 3, || Some("laptop".into()))
                .unwrap_err()
                .contains("\"laptop\" does not end in a StatefulSet ordinal")
        );
        assert!(Shard::resolve(None, 3, || None).is_err());
        assert!(Shard::new(0, 0).is_err());
    }

    #[test]
    fn one_shard_owns_everything() {
        assert!(Shard::ALL.owns("anything"));
        assert!(Shard::new(0, 1).unwrap().owns(""));
    }
}
