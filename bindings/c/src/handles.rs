//! Handle tables: what C holds instead of raw pointers.
//!
//! A handle given to C is an opaque token, never a real address: a serial number (never reused
//! on 64-bit targets) mixed with a key drawn once per process, shifted left by two, with a
//! two-bit tag for the kind of object. The key puts live tokens far from small numbers (a
//! handle made up as `(oxray_entity *)6` is refused, not taken for the sixth object). C sees it
//! as a pointer to an incomplete struct, so NULL works as "no handle" and the types stay
//! distinct. Looking a token up in its table answers `OXRAY_INVALID_HANDLE` for anything not
//! live — freed twice, used after free, garbage, or a handle of the other kind — instead of
//! undefined behaviour.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{OnceLock, RwLock};

use crate::error::{Failure, Outcome};
use crate::status::{OXRAY_INVALID_HANDLE, OXRAY_NULL_ARGUMENT};

const TAG_BITS: u32 = 2;
const TAG_MASK: usize = (1 << TAG_BITS) - 1;

/// Tokens are distinct serial numbers made by oxray itself, not attacker-chosen keys, so a
/// multiplicative hash spreads them well and costs a fraction of SipHash (every call looks a
/// handle up).
#[derive(Default)]
struct TokenHasher(u64);

impl Hasher for TokenHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type TokenMap<T> = HashMap<usize, T, BuildHasherDefault<TokenHasher>>;

/// The key tokens are mixed with: random, drawn once per process, with its top bit (below the
/// tag bits and one spare) set, so that `serial ^ key` is never 0 and never small, and
/// shifting it by the tag bits loses nothing.
fn process_key() -> usize {
    static KEY: OnceLock<usize> = OnceLock::new();
    *KEY.get_or_init(|| {
        use std::hash::BuildHasher;
        // RandomState is seeded from the operating system's randomness.
        let random = std::collections::hash_map::RandomState::new().hash_one(0x006f_7872_6179_u64);
        let room = usize::BITS - TAG_BITS - 1;
        let top = 1usize << (room - 1);
        ((random as usize) & (top - 1)) | top
    })
}

/// A table of live handles of one kind. Lookups clone the value out (an `Arc` in practice), so
/// the table lock is held only for the lookup itself.
pub(crate) struct Registry<T> {
    kind: &'static str,
    tag: usize,
    next: AtomicU64,
    live: RwLock<Option<TokenMap<T>>>,
}

impl<T: Clone> Registry<T> {
    pub(crate) const fn new(kind: &'static str, tag: usize) -> Registry<T> {
        Registry {
            kind,
            tag,
            next: AtomicU64::new(1),
            live: RwLock::new(None),
        }
    }

    /// Registers `value` and returns its token as an opaque pointer.
    pub(crate) fn insert<H>(&self, value: T) -> *mut H {
        let serial = self.next.fetch_add(1, Ordering::Relaxed) as usize;
        let token = ((serial ^ process_key()) << TAG_BITS) | self.tag;
        self.live
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(TokenMap::default)
            .insert(token, value);
        std::ptr::without_provenance_mut(token)
    }

    /// The value behind a handle named `what`.
    pub(crate) fn get<H>(&self, handle: *const H, what: &str) -> Outcome<T> {
        let token = handle.addr();
        if token == 0 {
            return Err(Failure::new(
                OXRAY_NULL_ARGUMENT,
                format!("{what} must not be NULL"),
            ));
        }
        let found = if token & TAG_MASK == self.tag {
            self.live
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
                .and_then(|m| m.get(&token).cloned())
        } else {
            None
        };
        found.ok_or_else(|| {
            Failure::new(
                OXRAY_INVALID_HANDLE,
                format!(
                    "{what} is not a live {} handle (already freed, or not made by oxray)",
                    self.kind
                ),
            )
        })
    }

    /// Forgets a handle and returns its value (dropped by the caller outside the table lock).
    /// NULL and unknown handles give None.
    pub(crate) fn remove<H>(&self, handle: *const H) -> Option<T> {
        let token = handle.addr();
        if token == 0 || token & TAG_MASK != self.tag {
            return None;
        }
        self.live
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
            .and_then(|m| m.remove(&token))
    }

    /// How many handles are live (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.live
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map_or(0, TokenMap::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct A;
    struct B;

    #[test]
    fn tokens_are_checked_by_kind_and_liveness() {
        static AS: Registry<u32> = Registry::new("a", 1);
        static BS: Registry<u32> = Registry::new("b", 2);
        let a: *mut A = AS.insert(7);
        let b: *mut B = BS.insert(8);
        assert_eq!(AS.get(a, "x").unwrap(), 7);
        assert_eq!(BS.get(b, "x").unwrap(), 8);
        // A handle of the other kind is refused, not misread.
        assert_eq!(
            AS.get(b.cast::<A>(), "x").unwrap_err().status,
            OXRAY_INVALID_HANDLE
        );
        assert_eq!(AS.remove(a), Some(7));
        assert_eq!(AS.get(a, "x").unwrap_err().status, OXRAY_INVALID_HANDLE);
        assert_eq!(AS.remove(a), None);
        assert_eq!(
            AS.get(std::ptr::null::<A>(), "x").unwrap_err().status,
            OXRAY_NULL_ARGUMENT
        );
        let junk: *const A = std::ptr::without_provenance(0xdead_bee1);
        assert_eq!(AS.get(junk, "x").unwrap_err().status, OXRAY_INVALID_HANDLE);
        // Small numbers, the first serials a made-up handle would guess, are never live.
        let a3: *mut A = AS.insert(10);
        for guess in 1..64usize {
            let made_up: *const A = std::ptr::without_provenance(guess << TAG_BITS | 1);
            assert_eq!(
                AS.get(made_up, "x").unwrap_err().status,
                OXRAY_INVALID_HANDLE
            );
        }
        assert!(a3.addr() > 1 << 28, "{:#x}", a3.addr());
        AS.remove(a3);
        // Tokens are never reused.
        let a2: *mut A = AS.insert(9);
        assert_ne!(a2, a);
        assert_eq!(AS.len(), 1);
        AS.remove(a2);
        BS.remove(b);
    }
}
