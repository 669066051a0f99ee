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

struct Slot {
    generation: u32,
    entity: Option<Entity>,
}

/// The table. Handle 0 is never issued.
#[derive(Default)]
pub struct Slab {
    slots: Vec<Slot>,
    free: Vec<u32>,
    ended: VecDeque<u32>,
}

impl Slab {
    /// Stores `entity`; None when the table is full.
    pub fn insert(&mut self, entity: Entity) -> Option<u32> {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                // Slot 0 is reserved so that handle 0 means "none".
                if self.slots.is_empty() {
                    self.slots.push(Slot {
                        generation: 0,
                        entity: None,
                    });
                }
                if self.slots.len() >= MAX_SLOTS {
                    return None;
                }
                self.slots.push(Slot {
                    generation: 0,
                    entity: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.entity = Some(entity);
        Some(index | (slot.generation << INDEX_BITS))
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
        self.free.push(index);
        slot.entity.take()
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
    }
}
