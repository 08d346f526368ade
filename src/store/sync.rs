//! A sync page's write: items, removals, timeline events, the provider's
//! keyed state and the cursor after the page, in one transaction.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};
use crate::model::Item;
use crate::providers::StateChange;
use crate::timeline::{self, TimelineEvent};

/// One sync page to write: see [`Store::apply_sync_page`].
pub struct PageWrite<'a> {
    pub items: Vec<Item>,
    pub removed: &'a [String],
    pub events: &'a [(String, TimelineEvent)],
    pub retain_only: Option<&'a [String]>,
    /// The provider's keyed state the page changed (`Page::state`).
    pub state: &'a [StateChange],
}

/// What [`Store::apply_sync_page`] wrote: the items as written (merged with
/// their stored events) and the ids `retain_only` forgot (not the `removed`).
pub struct Written {
    pub items: Vec<Item>,
    pub forgotten: Vec<String>,
}

impl Store {
    /// Stores a page of items, forgets the `removed` ids, and stores the cursor
    /// after the page, atomically.
    pub fn apply_page(
        &self,
        source: &str,
        endpoint: &str,
        items: &[Item],
        removed: &[String],
        cursor: &str,
    ) -> Result<(), StoreError> {
        self.apply_sync_page(
            source,
            endpoint,
            PageWrite {
                items: items.to_vec(),
                removed,
                events: &[],
                retain_only: None,
                state: &[],
            },
            cursor,
        )
        .map(drop)
    }

    /// [`Store::apply_page`] with timeline events `(item id, event)`; see
    /// [`Store::apply_sync_page`]. Returns every item written, as written.
    pub fn apply_page_with_events(
        &self,
        source: &str,
        endpoint: &str,
        items: Vec<Item>,
        removed: &[String],
        events: &[(String, TimelineEvent)],
        cursor: &str,
    ) -> Result<Vec<Item>, StoreError> {
        let page = PageWrite {
            items,
            removed,
            events,
            retain_only: None,
            state: &[],
        };
        Ok(self.apply_sync_page(source, endpoint, page, cursor)?.items)
    }

    /// Writes one sync page in one transaction with its cursor. Timeline
    /// events are stored by key (a re-read replaces, never doubles), each item
    /// of the page is merged with its stored events, and each stored item that
    /// got new events is read, merged and written back; events of an item not
    /// stored yet wait for it, and a removed item's events go with it. With
    /// `retain_only` (the vendor's complete id list) every stored item of
    /// `source` that is neither in that list nor in the page is forgotten too.
    pub fn apply_sync_page(
        &self,
        source: &str,
        endpoint: &str,
        page: PageWrite<'_>,
        cursor: &str,
    ) -> Result<Written, StoreError> {
        let PageWrite {
            items,
            removed,
            events,
            retain_only,
            state,
        } = page;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut written = Vec::with_capacity(items.len());
        let mut forgotten = Vec::new();
        {
            let mut put_event = tx.prepare_cached(
                "INSERT INTO item_events (source, item_id, key, at, data) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (source, item_id, key) DO UPDATE SET at = excluded.at, data = excluded.data",
            )?;
            for (id, e) in events {
                let data = serde_json::to_vec(e).expect("events always serialize");
                put_event.execute(params![source, id, e.key, e.at.as_second(), data])?;
            }
            let mut stored_events = tx.prepare_cached(
                "SELECT data FROM item_events WHERE source = ?1 AND item_id = ?2",
            )?;
            let mut events_of = |id: &str| -> Result<Vec<TimelineEvent>, StoreError> {
                let rows =
                    stored_events.query_map(params![source, id], |r| r.get::<_, Vec<u8>>(0))?;
                let mut out = Vec::new();
                for data in rows {
                    // An event this build cannot read is skipped: the item
                    // keeps what its provider sent.
                    if let Ok(e) = serde_json::from_slice(&data?) {
                        out.push(e);
                    }
                }
                Ok(out)
            };
            let mut put = tx.prepare_cached(
                "INSERT INTO items (source, id, updated_at, data) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (source, id) DO UPDATE SET updated_at = excluded.updated_at, data = excluded.data",
            )?;
            let mut page_ids: Vec<&str> = Vec::new();
            let any_events = !events.is_empty() || has_events(&tx, source)?;
            for mut item in items {
                if any_events {
                    let stored = events_of(&item.id)?;
                    timeline::merge(&mut item, &stored);
                }
                let data = serde_json::to_vec(&item).expect("items always serialize");
                put.execute(params![source, item.id, item.updated_at.as_second(), data])?;
                written.push(item);
            }
            page_ids.extend(written.iter().map(|i| i.id.as_str()));
            let mut touched: Vec<&str> = events
                .iter()
                .map(|(id, _)| id.as_str())
                .filter(|id| !page_ids.contains(id) && !removed.iter().any(|r| r == id))
                .collect();
            touched.sort_unstable();
            touched.dedup();
            let mut get =
                tx.prepare_cached("SELECT data FROM items WHERE source = ?1 AND id = ?2")?;
            let mut merged = Vec::new();
            for id in touched {
                let Some(data) = get
                    .query_row(params![source, id], |r| r.get::<_, Vec<u8>>(0))
                    .optional()?
                else {
                    continue;
                };
                let mut item: Item =
                    serde_json::from_slice(&data).map_err(|e| StoreError::Decode {
                        source_name: source.to_owned(),
                        id: id.to_owned(),
                        reason: e.to_string(),
                    })?;
                timeline::merge(&mut item, &events_of(id)?);
                let data = serde_json::to_vec(&item).expect("items always serialize");
                put.execute(params![source, item.id, item.updated_at.as_second(), data])?;
                merged.push(item);
            }
            written.extend(merged);
            let mut del = tx.prepare_cached("DELETE FROM items WHERE source = ?1 AND id = ?2")?;
            let mut del_events =
                tx.prepare_cached("DELETE FROM item_events WHERE source = ?1 AND item_id = ?2")?;
            for id in removed {
                del.execute(params![source, id])?;
                del_events.execute(params![source, id])?;
            }
            if let Some(keep) = retain_only {
                let keep: std::collections::HashSet<&str> = keep
                    .iter()
                    .map(String::as_str)
                    .chain(written.iter().map(|i| i.id.as_str()))
                    .collect();
                let mut ids = tx.prepare_cached("SELECT id FROM items WHERE source = ?1")?;
                let stored = ids
                    .query_map(params![source], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                for id in stored.into_iter().filter(|id| !keep.contains(id.as_str())) {
                    del.execute(params![source, id])?;
                    del_events.execute(params![source, id])?;
                    forgotten.push(id);
                }
            }
            let mut put_state = tx.prepare_cached(
                "INSERT INTO provider_state (source, list, key, value) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (source, list, key) DO UPDATE SET value = excluded.value",
            )?;
            let mut del_state = tx.prepare_cached(
                "DELETE FROM provider_state WHERE source = ?1 AND list = ?2 AND key = ?3",
            )?;
            for change in state {
                match &change.value {
                    Some(value) => {
                        put_state.execute(params![source, change.list, change.key, value])?
                    }
                    None => del_state.execute(params![source, change.list, change.key])?,
                };
            }
            tx.execute(
                "INSERT INTO cursors (source, endpoint, cursor) VALUES (?1, ?2, ?3)
                 ON CONFLICT (source, endpoint) DO UPDATE SET cursor = excluded.cursor",
                params![source, endpoint, cursor],
            )?;
        }
        tx.commit()?;
        Ok(Written {
            items: written,
            forgotten,
        })
    }
}

/// Whether `source` has any stored timeline event: items of sources without
/// an event stream skip the per-item lookup.
fn has_events(tx: &rusqlite::Transaction<'_>, source: &str) -> Result<bool, StoreError> {
    Ok(tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM item_events WHERE source = ?1)")?
        .query_row(params![source], |r| r.get(0))?)
}
