//! `basic_auth_users`: HTTP basic auth against bcrypt hashes.
//!
//! bcrypt is slow on purpose (tens of milliseconds at cost 10), too slow to
//! pay on every scrape, so a verified (user, hash, password) triple is
//! remembered as its SHA-256 digest, as exporter-toolkit caches it; the
//! password itself is never stored. An unknown user costs a bcrypt check too,
//! so response times do not reveal which users exist.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use aws_lc_rs::digest;
use base64::Engine;
use hyper::header::HeaderValue;

/// A valid bcrypt hash (of a random string) to check unknown users against.
const DUMMY_HASH: &str = "$2b$10$Q1p8xFQFVqEM7G0TRxaYL.LwbX8mT0C5Hh8l7fbdV0Ru0S8v0f2iq";

/// Bounds the cache; it is cleared when full (users are few, scrapers fewer).
const CACHE_LIMIT: usize = 1024;

/// Digests of verified (user, hash, password) triples.
#[derive(Default)]
pub struct AuthCache(Mutex<HashSet<[u8; 32]>>);

pub(super) async fn check(
    users: &BTreeMap<String, String>,
    header: Option<&HeaderValue>,
    cache: &AuthCache,
) -> bool {
    if users.is_empty() {
        return true;
    }
    let Some((user, password)) = header.and_then(credentials) else {
        return false;
    };
    let (hash, known) = match users.get(&user) {
        Some(hash) => (hash.clone(), true),
        None => (DUMMY_HASH.to_owned(), false),
    };
    let key = cache_key(&user, &hash, &password);
    if known && cache.0.lock().expect("lock poisoned").contains(&key) {
        return true;
    }
    let ok = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
        .await
        .unwrap_or(false)
        && known;
    if ok {
        let mut set = cache.0.lock().expect("lock poisoned");
        if set.len() >= CACHE_LIMIT {
            set.clear();
        }
        set.insert(key);
    }
    ok
}

/// `Basic base64(user:password)` → (user, password).
fn credentials(header: &HeaderValue) -> Option<(String, String)> {
    let text = header.to_str().ok()?;
    let (scheme, encoded) = text.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn cache_key(user: &str, hash: &str, password: &str) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for part in [user, hash, password] {
        // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
        ctx.update(&(part.len() as u64).to_le_bytes());
        ctx.update(part.as_bytes());
    }
    ctx.finish()
        .as_ref()
        .try_into()
        .expect("SHA-256 is 32 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> HeaderValue {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {token}")).unwrap()
    }

    #[tokio::test]
    async fn checks_user_and_password_and_caches_only_successes() {
        let hash = bcrypt::hash("right", 4).unwrap();
        let users = BTreeMap::from([("prom".to_owned(), hash.clone())]);
        let cache = AuthCache::default();
        assert!(
            check(&BTreeMap::new(), None, &cache).await,
            "no users: open"
        );
        assert!(!check(&users, None, &cache).await, "no header");
        assert!(!check(&users, Some(&basic("prom", "wrong")), &cache).await);
        assert!(!check(&users, Some(&basic("nobody", "right")), &cache).await);
        assert!(cache.0.lock().unwrap().is_empty());
        assert!(check(&users, Some(&basic("prom", "right")), &cache).await);
        assert!(
            cache
                .0
                .lock()
                .unwrap()
                .contains(&cache_key("prom", &hash, "right"))
        );
        let bearer = HeaderValue::from_static("Bearer abc");
        assert!(!check(&users, Some(&bearer), &cache).await);
    }

    #[test]
    fn the_dummy_hash_is_a_valid_bcrypt_hash() {
        assert!(DUMMY_HASH.parse::<bcrypt::HashParts>().is_ok());
    }
}
