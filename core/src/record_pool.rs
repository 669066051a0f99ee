//! A small per-thread pool of entity records.
//!
//! Every sampled entity needs an [`EntityData`] on the heap, a `String` for its name and
//! vectors for its annotations and metadata. Recycling the record after it has been
//! serialized keeps those allocations (and their capacity) for the next entity begun on the
//! same thread, which is most of what a traced call costs besides writing its JSON.
//!
//! Records with unusually large buffers are not kept, so the pool never pins much memory:
//! at most [`POOL_CAPACITY`] records per thread, each within [`KEEP_NAME_BYTES`] and
//! [`KEEP_ENTRIES`].

use std::cell::RefCell;

use crate::model::EntityData;

/// Records kept per thread: enough for a Node server's main thread with dozens of requests
/// open at once (each a segment; with 16, a keep-alive client pipelining 32 requests had half
/// of them begun in new records and ended by freeing them). A thread only keeps as many as it
/// once had open at the same time, so a handler with ten nested calls keeps eleven. A kept
/// record is about 1 KB with an ordinary entity's buffers, at most ~17 KB (its name and
/// `KEEP_ENTRIES` annotation and metadata slots, each text within 256 bytes).
const POOL_CAPACITY: usize = 64;
/// A record whose name buffer grew beyond this is freed rather than kept.
const KEEP_NAME_BYTES: usize = 256;
/// A record whose annotation or metadata vectors grew beyond this many slots is freed.
const KEEP_ENTRIES: usize = 16;

thread_local! {
    // The boxes themselves are what is recycled (entities hold `Box<EntityData>`).
    #[allow(clippy::vec_box)]
    static POOL: RefCell<Vec<Box<EntityData>>> = const { RefCell::new(Vec::new()) };
}

/// A record named `name`, started at `start_micros`, every other field at its default.
pub(crate) fn take(name: &str, start_micros: u64) -> Box<EntityData> {
    let recycled = POOL
        .try_with(|pool| pool.try_borrow_mut().ok().and_then(|mut p| p.pop()))
        .ok()
        .flatten();
    match recycled {
        Some(mut data) => {
            // SAFETY: appending a `&str`'s bytes to an empty `String` keeps it valid UTF-8.
            crate::json::append(unsafe { data.name.as_mut_vec() }, name.as_bytes());
            data.start_micros = start_micros;
            data
        }
        None => Box::new(EntityData {
            name: name.to_string(),
            start_micros,
            ..EntityData::default()
        }),
    }
}

/// Hands a record back once it has been serialized. Its contents are dropped now; its
/// buffers are kept for [`take`] when they are of ordinary size.
pub(crate) fn give_back(mut data: Box<EntityData>) {
    let oversized = data.name.capacity() > KEEP_NAME_BYTES
        || [
            data.annotations.capacity(),
            data.metadata.capacity(),
            data.service.capacity(),
            data.precursor_ids.capacity(),
        ]
        .iter()
        .any(|c| *c > KEEP_ENTRIES);
    if oversized {
        return;
    }
    data.clear_for_reuse();
    // During thread teardown the pool may be gone: the record is then simply freed.
    let _ = POOL.try_with(|pool| {
        if let Ok(mut pool) = pool.try_borrow_mut() {
            if pool.len() < POOL_CAPACITY {
                pool.push(data);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AnnotationValue, JsonText};

    #[test]
    fn a_recycled_record_is_blank_but_for_name_and_start() {
        let mut used = take("first", 1);
        used.end_micros = Some(2);
        used.error = true;
        used.set_annotation("k", AnnotationValue::Str("annotation text".into()));
        used.set_metadata("ns", "k", JsonText::parse("1").unwrap());
        used.origin = Some("AWS::Lambda".into());
        give_back(used);
        let mut fresh = take("second", 5);
        // The earlier entries are kept as stale slots (with their buffers) for the next ones,
        // but none of them is seen.
        assert!(fresh.annotations.is_empty() && fresh.metadata.is_empty());
        assert!(fresh.annotations.capacity() >= 1);
        fresh.set_annotation_text("k2", "v");
        assert_eq!(
            &*fresh.annotations,
            [("k2".to_string(), AnnotationValue::Str("v".into()))]
        );
        fresh.annotations.clear();
        let expected = EntityData {
            name: "second".into(),
            start_micros: 5,
            ..EntityData::default()
        };
        assert_eq!(format!("{fresh:?}"), format!("{expected:?}"));
    }

    #[test]
    fn recycled_slots_keep_no_large_strings() {
        while POOL.with(|p| p.borrow_mut().pop()).is_some() {}
        let mut used = take("big values", 1);
        used.set_annotation_text("k", &"a".repeat(10_000));
        used.set_metadata_text("ns", "m", &format!("\"{}\"", "b".repeat(10_000)));
        give_back(used);
        let mut fresh = take("next", 2);
        let annotation = fresh.annotations.reuse_next().expect("a stale slot");
        assert!(matches!(&annotation.1, AnnotationValue::Str(s) if s.capacity() <= 256));
        let entry = fresh.metadata.reuse_next().expect("a stale slot");
        assert!(entry.value.0.capacity() <= 256);
    }

    #[test]
    fn oversized_records_are_not_kept() {
        while POOL.with(|p| p.borrow_mut().pop()).is_some() {}
        let mut big = take("big", 1);
        big.name.push_str(&"x".repeat(KEEP_NAME_BYTES * 2));
        give_back(big);
        assert_eq!(POOL.with(|p| p.borrow().len()), 0);
    }

    #[test]
    fn a_thread_keeps_as_many_records_as_it_had_open_up_to_the_bound() {
        while POOL.with(|p| p.borrow_mut().pop()).is_some() {}
        // A server's thread with 40 requests open at once: all 40 records come back.
        let open: Vec<_> = (0..40).map(|i| take("request", i)).collect();
        open.into_iter().for_each(give_back);
        assert_eq!(POOL.with(|p| p.borrow().len()), 40);
        let open: Vec<_> = (0..POOL_CAPACITY + 10)
            .map(|_| take("request", 1))
            .collect();
        open.into_iter().for_each(give_back);
        assert_eq!(POOL.with(|p| p.borrow().len()), POOL_CAPACITY);
    }
}
