//! Handle table: JavaScript holds entities as small integers, not wrapped objects.
//!
//! Wrapping each entity in a JavaScript object costs a weak reference and a finalizer per
//! subsegment (microseconds, plus GC work). Instead an entity lives in this table and
//! JavaScript holds a `u32` handle: low [`INDEX_BITS`] bits index a slot, the high bits are
//! the slot's generation, so a stale handle never reaches another entity.
//!
//! Lifetime: an open entity stays until it is ended or released. An ended entity stays
//! usable (as a parent, or to read its ids) until [`ENDED_KEPT`] later entities have ended;
//! then its slot is reused. Everything here is bounded.
//!
//! The table also lists the handles still open (not ended, not released), so that the end of
//! a Lambda invocation can find the subsegments its handler left running without scanning
//! every slot.

use std::collections::VecDeque;

use oxray_core::Entity;

/// Bits of a handle that index a slot.
const INDEX_BITS: u32 = 20;
/// Most entities alive at once in one JavaScript thread.
pub const MAX_SLOTS: usize = 1 << INDEX_BITS;
const INDEX_MASK: u32 = (1 << INDEX_BITS) - 1;
const GENERATION_LIMIT: u32 = 1 << (32 - INDEX_BITS);
/// Ended entities kept addressable after their end.
const ENDED_KEPT: usize = 4096;

/// `Slot::open_at` of a slot that is not in the open list.
const NOT_OPEN: u32 = u32::MAX;

struct Slot {
    generation: u32,
    entity: Option<Entity>,
    /// Position of this slot's handle in `Slab::open`, or [`NOT_OPEN`].
    open_at: u32,
}

impl Slot {
    fn empty() -> Slot {
        Slot {
            generation: 0,
            entity: None,
            open_at: NOT_OPEN,
        }
    }
}

/// The table. Handle 0 is never issued.
#[derive(Default)]
pub struct Slab {
    slots: Vec<Slot>,
    free: Vec<u32>,
    ended: VecDeque<u32>,
    /// Handles of entities neither ended nor released, in no particular order.
    open: Vec<u32>,
}

impl Slab {
    /// Stores `entity`; None when the table is full.
    pub fn insert(&mut self, entity: Entity) -> Option<u32> {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                // Slot 0 is reserved so that handle 0 means "none".
                if self.slots.is_empty() {
                    self.slots.push(Slot::empty());
                }
                if self.slots.len() >= MAX_SLOTS {
                    return None;
                }
                self.slots.push(Slot::empty());
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.entity = Some(entity);
        let handle = index | (slot.generation << INDEX_BITS);
        slot.open_at = self.open.len() as u32;
        self.open.push(handle);
        Some(handle)
    }

    /// Takes `index`'s handle out of the open list (O(1): the last entry moves into its place).
    fn unlist(&mut self, index: usize) {
        let at = std::mem::replace(&mut self.slots[index].open_at, NOT_OPEN);
        if at == NOT_OPEN {
            return;
        }
        self.open.swap_remove(at as usize);
        if let Some(&moved) = self.open.get(at as usize) {
            self.slots[(moved & INDEX_MASK) as usize].open_at = at;
        }
    }

    /// Handles of the entities still open (neither ended nor released).
    pub fn open_handles(&self) -> &[u32] {
        &self.open
    }

    /// The entity behind `handle`, if the handle is current.
    pub fn get(&self, handle: u32) -> Option<&Entity> {
        let slot = self.slots.get((handle & INDEX_MASK) as usize)?;
        if slot.generation != handle >> INDEX_BITS {
            return None;
        }
        slot.entity.as_ref()
    }

    /// Notes that `handle`'s entity ended: it stays addressable for a while (see module docs).
    pub fn ended(&mut self, handle: u32) {
        if self.get(handle).is_none() {
            return;
        }
        self.unlist((handle & INDEX_MASK) as usize);
        if self.ended.len() >= ENDED_KEPT {
            if let Some(old) = self.ended.pop_front() {
                self.release(old);
            }
        }
        self.ended.push_back(handle);
    }

    /// Frees the slot of `handle` (dropping the table's reference to the entity).
    pub fn release(&mut self, handle: u32) -> Option<Entity> {
        let index = handle & INDEX_MASK;
        let slot = self.slots.get_mut(index as usize)?;
        if slot.generation != handle >> INDEX_BITS || slot.entity.is_none() {
            return None;
        }
        slot.generation = (slot.generation + 1) % GENERATION_LIMIT;
        let entity = slot.entity.take();
        self.free.push(index);
        self.unlist(index as usize);
        entity
    }

    /// Entities currently held (open, or ended and still addressable).
    pub fn len(&self) -> usize {
        self.slots.len().saturating_sub(1) - self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_handles_miss() {
        let rec = oxray_core::Recorder::in_memory();
        let mut slab = Slab::default();
        let f = rec.lambda_facade(Some(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        ));
        let h = slab.insert(f.clone()).unwrap();
        assert_ne!(h, 0);
        assert!(slab.get(h).is_some());
        assert!(slab.release(h).is_some());
        assert!(slab.get(h).is_none());
        let h2 = slab.insert(f).unwrap();
        assert_ne!(h, h2);
        assert!(slab.get(h).is_none());
        assert!(slab.get(0).is_none());
        assert_eq!(slab.len(), 1);
    }

    #[test]
    fn ended_entities_are_recycled_after_a_while() {
        let rec = oxray_core::Recorder::in_memory();
        let mut slab = Slab::default();
        let f = rec.lambda_facade(None);
        let first = slab.insert(f.clone()).unwrap();
        slab.ended(first);
        for _ in 0..ENDED_KEPT {
            let h = slab.insert(f.clone()).unwrap();
            slab.ended(h);
        }
        assert!(slab.get(first).is_none());
        assert_eq!(slab.len(), ENDED_KEPT);
        assert!(slab.open_handles().is_empty());
    }

    #[test]
    fn the_open_list_follows_ends_and_releases() {
        let rec = oxray_core::Recorder::in_memory();
        let mut slab = Slab::default();
        let f = rec.lambda_facade(None);
        let hs: Vec<u32> = (0..5).map(|_| slab.insert(f.clone()).unwrap()).collect();
        slab.ended(hs[1]);
        slab.release(hs[3]);
        // A stale or repeated end changes nothing.
        slab.ended(hs[1]);
        slab.ended(0);
        let mut open = slab.open_handles().to_vec();
        open.sort_unstable();
        assert_eq!(open, vec![hs[0], hs[2], hs[4]]);
        slab.release(hs[4]);
        slab.ended(hs[0]);
        assert_eq!(slab.open_handles(), &[hs[2]]);
        // A reused slot is listed again under its new handle.
        let again = slab.insert(f).unwrap();
        let mut open = slab.open_handles().to_vec();
        open.sort_unstable();
        let mut want = vec![hs[2], again];
        want.sort_unstable();
        assert_eq!(open, want);
    }
}
