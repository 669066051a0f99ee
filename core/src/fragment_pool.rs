//! A small per-thread pool of fragment buffers.
//!
//! A closed subsegment embedded in its open parent is serialized into a buffer of its own (a
//! *fragment*) that the parent copies into its document when it ends. Without recycling, every
//! level of a nested chain allocates a fragment buffer and a list to hold its children's, and
//! frees them after the copy — in a chain of ten traced calls, allocation was the largest cost
//! of ending each one. The buffers come back here once copied and are reused by the next
//! fragment written on the same thread.
//!
//! Bounded like [`crate::record_pool`]: at most [`POOL_CAPACITY`] buffers and lists per
//! thread, and buffers that grew beyond [`KEEP_BYTES`] are freed rather than kept.

use std::cell::RefCell;

/// Buffers (and lists) kept per thread: a nested chain of 16 open levels reuses all of its own.
const POOL_CAPACITY: usize = 16;
/// A buffer that grew beyond this is freed rather than kept (at most 256 KB per thread).
const KEEP_BYTES: usize = 16 * 1024;
/// A new fragment buffer's room: a usual subsegment without children fits.
const NEW_BYTES: usize = 512;

#[derive(Default)]
struct Pool {
    buffers: Vec<Vec<u8>>,
    lists: Vec<Vec<Vec<u8>>>,
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

/// Runs `f` on this thread's pool; None during thread teardown or re-entry.
fn with_pool<R>(f: impl FnOnce(&mut Pool) -> R) -> Option<R> {
    POOL.try_with(|pool| pool.try_borrow_mut().ok().map(|mut p| f(&mut p)))
        .ok()
        .flatten()
}

/// An empty buffer for a fragment.
pub(crate) fn take() -> Vec<u8> {
    with_pool(|p| p.buffers.pop())
        .flatten()
        .unwrap_or_else(|| Vec::with_capacity(NEW_BYTES))
}

/// An empty list for a parent's children fragments.
pub(crate) fn take_list() -> Vec<Vec<u8>> {
    with_pool(|p| p.lists.pop()).flatten().unwrap_or_default()
}

/// Hands back a fragment buffer whose contents were copied elsewhere.
pub(crate) fn give_back(mut buffer: Vec<u8>) {
    if buffer.capacity() > KEEP_BYTES || buffer.capacity() == 0 {
        return;
    }
    buffer.clear();
    with_pool(|p| {
        if p.buffers.len() < POOL_CAPACITY {
            p.buffers.push(buffer);
        }
    });
}

/// Hands back a list of children fragments (copied elsewhere) and the list itself.
pub(crate) fn give_back_list(mut list: Vec<Vec<u8>>) {
    for buffer in list.drain(..) {
        give_back(buffer);
    }
    if list.capacity() == 0 || list.capacity() > POOL_CAPACITY * 4 {
        return;
    }
    with_pool(|p| {
        if p.lists.len() < POOL_CAPACITY {
            p.lists.push(list);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pooled_buffers() -> usize {
        POOL.with(|p| p.borrow().buffers.len())
    }

    #[test]
    fn buffers_come_back_empty_with_their_room() {
        let mut buffer = take();
        buffer.extend_from_slice(b"{\"name\":\"a\"}");
        let room = buffer.capacity();
        give_back(buffer);
        let again = take();
        assert!(again.is_empty());
        assert_eq!(again.capacity(), room);
    }

    #[test]
    fn lists_give_back_their_buffers_too() {
        while POOL.with(|p| p.borrow_mut().buffers.pop()).is_some() {}
        let mut list = take_list();
        list.push(b"{}".to_vec());
        list.push(b"{}".to_vec());
        give_back_list(list);
        assert_eq!(pooled_buffers(), 2);
        assert!(take_list().is_empty());
    }

    #[test]
    fn the_pool_is_bounded_and_keeps_no_large_buffers() {
        while POOL.with(|p| p.borrow_mut().buffers.pop()).is_some() {}
        give_back(Vec::with_capacity(KEEP_BYTES + 1));
        assert_eq!(pooled_buffers(), 0);
        for _ in 0..POOL_CAPACITY * 2 {
            give_back(Vec::with_capacity(64));
        }
        assert_eq!(pooled_buffers(), POOL_CAPACITY);
    }
}
