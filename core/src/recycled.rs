//! [`Recycled`]: a list whose emptied slots keep their contents' buffers for the next use.
//!
//! An entity record is recycled after it has been serialized ([`crate::record_pool`]). Its
//! annotations and metadata are lists of entries holding strings; emptying them the usual way
//! frees (or moves aside) every string, and the next entity allocates (or fetches) them again.
//! A `Recycled` list is emptied by forgetting how many entries are live: the old entries stay
//! in place as *stale* slots, and the next entity's entries are written into their strings
//! (see [`Recycled::reuse_next`]). Only live entries are visible: reading, comparing and
//! printing a list see the live prefix alone.

use std::ops::{Deref, DerefMut};

#[derive(Clone)]
pub struct Recycled<T> {
    slots: Vec<T>,
    /// Entries `slots[..live]` are the list; the rest are stale.
    live: usize,
}

impl<T> Default for Recycled<T> {
    fn default() -> Self {
        Recycled {
            slots: Vec::new(),
            live: 0,
        }
    }
}

impl<T> Recycled<T> {
    /// Appends `item` (over the next stale slot, which is dropped, if there is one).
    pub fn push(&mut self, item: T) {
        if self.live < self.slots.len() {
            self.slots[self.live] = item;
        } else {
            self.slots.push(item);
        }
        self.live += 1;
    }

    /// Makes the next stale slot live and returns it for the caller to overwrite field by
    /// field (keeping its buffers); None when there is no stale slot (then [`Self::push`]).
    #[inline]
    pub fn reuse_next(&mut self) -> Option<&mut T> {
        let slot = self.slots.get_mut(self.live)?;
        self.live += 1;
        Some(slot)
    }

    /// Empties the list; the entries stay as stale slots.
    pub fn clear(&mut self) {
        self.live = 0;
    }

    /// Keeps the live entries for which `keep` is true, in order. The others are dropped,
    /// with every stale slot (this runs when a document is cut down to its size bound: what
    /// it removes may be large, and a recycled record must not keep it).
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        let mut kept = 0;
        for i in 0..self.live {
            if keep(&self.slots[i]) {
                self.slots.swap(kept, i);
                kept += 1;
            }
        }
        self.slots.truncate(kept);
        self.live = kept;
    }

    /// Slots held, live and stale (what a recycled record keeps).
    pub fn capacity(&self) -> usize {
        self.slots.capacity()
    }
}

impl<T> Deref for Recycled<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.slots[..self.live]
    }
}

impl<T> DerefMut for Recycled<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.slots[..self.live]
    }
}

impl<'a, T> IntoIterator for &'a Recycled<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T> From<Vec<T>> for Recycled<T> {
    fn from(slots: Vec<T>) -> Self {
        let live = slots.len();
        Recycled { slots, live }
    }
}

impl<T> FromIterator<T> for Recycled<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        items.into_iter().collect::<Vec<T>>().into()
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Recycled<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: PartialEq> PartialEq for Recycled<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_live_entries_are_seen() {
        let mut list: Recycled<String> = vec!["a".to_string(), "b".to_string()].into();
        list.clear();
        assert!(list.is_empty());
        assert_eq!(format!("{list:?}"), "[]");
        assert_eq!(list, Recycled::default());
        list.push("c".into());
        assert_eq!(&*list, ["c".to_string()]);
        assert_eq!(list.capacity(), 2);
    }

    #[test]
    fn a_reused_slot_keeps_its_buffer() {
        let mut list: Recycled<String> = vec![String::with_capacity(100)].into();
        list.clear();
        let slot = list.reuse_next().unwrap();
        slot.clear();
        slot.push_str("key");
        assert_eq!(slot.capacity(), 100);
        assert_eq!(&*list, ["key".to_string()]);
        assert!(list.reuse_next().is_none());
    }

    #[test]
    fn retain_keeps_order_and_drops_from_view() {
        let mut list: Recycled<u32> = vec![1, 2, 3, 4, 5].into();
        list.retain(|v| v % 2 == 1);
        assert_eq!(&*list, [1, 3, 5]);
        assert!(
            list.reuse_next().is_none(),
            "removed entries are dropped, not kept stale"
        );
        list.push(7);
        assert_eq!(&*list, [1, 3, 5, 7]);
        list.clear();
        assert_eq!(list.reuse_next().copied(), Some(1));
    }
}
