//! Trace ids (`1-{epoch:8 hex}-{96 random bits:24 hex}`) and entity ids (16 lowercase hex).
//!
//! Random bits come from a per-thread ChaCha8 generator seeded once from the OS CSPRNG, so an
//! id costs a few nanoseconds and no syscall. After `fork()` the child must not repeat the
//! parent's stream: bindings call [`reseed_after_fork`], which makes every thread reseed.

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

static SEED_GENERATION: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static RNG: RefCell<(u64, ChaCha8Rng)> =
        RefCell::new((SEED_GENERATION.load(Ordering::Relaxed), ChaCha8Rng::from_os_rng()));
}

/// Forces every thread's generator to reseed from the OS before its next id.
/// Call in the child after `fork()`.
pub fn reseed_after_fork() {
    SEED_GENERATION.fetch_add(1, Ordering::Relaxed);
}

fn with_rng<T>(f: impl FnOnce(&mut ChaCha8Rng) -> T) -> T {
    RNG.with(|cell| {
        let mut guard = cell.borrow_mut();
        let generation = SEED_GENERATION.load(Ordering::Relaxed);
        if guard.0 != generation {
            *guard = (generation, ChaCha8Rng::from_os_rng());
        }
        f(&mut guard.1)
    })
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// [`hex_value`] for every byte, [`NOT_HEX`] for the others.
const HEX_VALUES: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = match i as u8 {
            b @ b'0'..=b'9' => b - b'0',
            b @ b'a'..=b'f' => b - b'a' + 10,
            b @ b'A'..=b'F' => b - b'A' + 10,
            _ => NOT_HEX,
        };
        i += 1;
    }
    table
};
const NOT_HEX: u8 = 0xF0;

/// The value of 1 to 16 hex digits. Branch-free over the digits (a table lookup each, the
/// bad ones remembered in one accumulator): ids are parsed for every incoming header.
fn parse_hex_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 16 {
        return None;
    }
    let mut value = 0u64;
    let mut bad = 0u8;
    for &b in s {
        let digit = HEX_VALUES[b as usize];
        bad |= digit;
        value = (value << 4) | (digit & 0x0F) as u64;
    }
    (bad & NOT_HEX == 0).then_some(value)
}

/// Why an id failed to parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdError {
    /// Wrong overall length; expected the given number of characters.
    Length { expected: usize, found: usize },
    /// A character that is not a hex digit at the given byte offset.
    NotHex { offset: usize },
    /// The trace id's version is not `1` or its dashes are misplaced.
    Shape(&'static str),
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdError::Length { expected, found } => {
                write!(f, "expected {expected} characters, found {found}")
            }
            IdError::NotHex { offset } => write!(f, "non-hex character at offset {offset}"),
            IdError::Shape(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for IdError {}

/// A 64-bit segment, subsegment or exception id, written as 16 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityId(pub u64);

impl EntityId {
    /// A fresh random, non-zero id.
    pub fn generate() -> EntityId {
        with_rng(|rng| loop {
            let v = rng.next_u64();
            if v != 0 {
                return EntityId(v);
            }
        })
    }

    /// Parses exactly 16 hex digits (either case).
    pub fn parse(s: &str) -> Result<EntityId, IdError> {
        let b = s.as_bytes();
        if b.len() != 16 {
            return Err(IdError::Length {
                expected: 16,
                found: b.len(),
            });
        }
        match parse_hex_u64(b) {
            Some(value) => Ok(EntityId(value)),
            None => Err(IdError::NotHex {
                offset: b.iter().position(|c| hex_value(*c).is_none()).unwrap_or(0),
            }),
        }
    }

    /// The 16 lowercase hex digits.
    pub fn to_hex(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&hex_digits_u32((self.0 >> 32) as u32));
        out[8..].copy_from_slice(&hex_digits_u32(self.0 as u32));
        out
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // to_hex is ASCII by construction.
        f.write_str(std::str::from_utf8(&self.to_hex()).unwrap_or("0000000000000000"))
    }
}

impl fmt::Debug for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntityId({self})")
    }
}

/// An X-Ray trace id: version 1, 32-bit epoch seconds and 96 random bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId {
    /// Epoch seconds of the original request.
    pub epoch: u32,
    /// The 96 random bits (upper 32 bits of the u128 are always zero).
    pub random: u128,
}

const RANDOM_MASK: u128 = (1u128 << 96) - 1;

impl TraceId {
    /// A new trace id stamped with the current time.
    pub fn generate() -> TraceId {
        Self::generate_at(crate::time::now_secs() as u32)
    }

    /// A new trace id stamped with `epoch` seconds.
    pub fn generate_at(epoch: u32) -> TraceId {
        let random =
            with_rng(|rng| ((rng.next_u64() as u128) << 32 | rng.next_u32() as u128) & RANDOM_MASK);
        TraceId { epoch, random }
    }

    /// Parses `1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx` (hex in either case).
    pub fn parse(s: &str) -> Result<TraceId, IdError> {
        let b = s.as_bytes();
        if b.len() != 35 {
            return Err(IdError::Length {
                expected: 35,
                found: b.len(),
            });
        }
        if b[0] != b'1' || b[1] != b'-' || b[10] != b'-' {
            return Err(IdError::Shape(
                "trace id must look like 1-<8 hex>-<24 hex> (version 1)",
            ));
        }
        let (Some(epoch), Some(hi), Some(lo)) = (
            parse_hex_u64(&b[2..10]),
            parse_hex_u64(&b[11..19]),
            parse_hex_u64(&b[19..35]),
        ) else {
            let offset = (2..35)
                .filter(|i| *i != 10)
                .find(|i| hex_value(b[*i]).is_none())
                .unwrap_or(0);
            return Err(IdError::NotHex { offset });
        };
        let (epoch, hi, lo) = (epoch as u32, hi as u128, lo as u128);
        Ok(TraceId {
            epoch,
            random: (hi << 64) | lo,
        })
    }

    /// From a 32-hex W3C/OpenTelemetry trace id: `T[0:8]` is the epoch, `T[8:32]` the random part.
    pub fn from_w3c(s: &str) -> Result<TraceId, IdError> {
        let b = s.as_bytes();
        if b.len() != 32 {
            return Err(IdError::Length {
                expected: 32,
                found: b.len(),
            });
        }
        if let Some(offset) = b.iter().position(|c| hex_value(*c).is_none()) {
            return Err(IdError::NotHex { offset });
        }
        let epoch = parse_hex_u64(&b[0..8]).unwrap_or(0) as u32;
        let hi = parse_hex_u64(&b[8..16]).unwrap_or(0) as u128;
        let lo = parse_hex_u64(&b[16..32]).unwrap_or(0) as u128;
        Ok(TraceId {
            epoch,
            random: (hi << 64) | lo,
        })
    }

    /// The 32 lowercase hex digits of the W3C form.
    pub fn to_w3c(&self) -> String {
        let full = self.to_bytes();
        let s = std::str::from_utf8(&full).unwrap_or_default();
        format!("{}{}", &s[2..10], &s[11..35])
    }

    /// The 35 ASCII bytes of `1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx`.
    pub fn to_bytes(&self) -> [u8; 35] {
        let mut out = [0u8; 35];
        out[0] = b'1';
        out[1] = b'-';
        write_hex_bytes(&mut out[2..10], &self.epoch.to_be_bytes());
        out[10] = b'-';
        write_hex_bytes(&mut out[11..35], &self.random.to_be_bytes()[4..]);
        out
    }
}

/// The eight lowercase hex digits of `v`, computed in one 64-bit word (no table lookups).
fn hex_digits_u32(v: u32) -> [u8; 8] {
    // Spread the eight nibbles into eight bytes, most significant nibble in the first byte.
    let mut x = v as u64;
    x = ((x & 0xFFFF_0000) << 16) | (x & 0xFFFF);
    x = ((x & 0x0000_FF00_0000_FF00) << 8) | (x & 0x0000_00FF_0000_00FF);
    x = ((x & 0x00F0_00F0_00F0_00F0) << 4) | (x & 0x000F_000F_000F_000F);
    // Digits 10..15 need 'a' - '0' - 10 = 39 more than 0..9.
    let letters = ((x + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
    (x + 0x3030_3030_3030_3030 + letters * 39).to_be_bytes()
}

/// Writes two lowercase hex digits per byte of `bytes` into `out` (`out.len() == 2 * bytes.len()`).
fn write_hex_bytes(out: &mut [u8], bytes: &[u8]) {
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX[(b >> 4) as usize];
        pair[1] = HEX[(b & 0xf) as usize];
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::str::from_utf8(&self.to_bytes()).unwrap_or_default())
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_id_shape_and_round_trip() {
        let t = TraceId::generate_at(0x5759e988);
        let s = t.to_string();
        assert_eq!(s.len(), 35);
        assert!(s.starts_with("1-5759e988-"));
        assert_eq!(TraceId::parse(&s).unwrap(), t);
        assert_eq!(s, s.to_lowercase());
    }

    #[test]
    fn w3c_conversion_matches_the_documented_example() {
        let t = TraceId::from_w3c("4efaaf4d1e8720b39541901950019ee5").unwrap();
        assert_eq!(t.to_string(), "1-4efaaf4d-1e8720b39541901950019ee5");
        assert_eq!(t.to_w3c(), "4efaaf4d1e8720b39541901950019ee5");
        assert!(TraceId::from_w3c("4efaaf4d1e8720b39541901950019ee").is_err());
        assert!(TraceId::from_w3c("zefaaf4d1e8720b39541901950019ee5").is_err());
    }

    #[test]
    fn hex_digits_match_format() {
        let mut v: u64 = 0x0123_4567_89ab_cdef;
        for _ in 0..10_000 {
            assert_eq!(EntityId(v).to_hex(), format!("{v:016x}").as_bytes());
            v = v.rotate_left(7).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xff;
        }
        for v in [0, u64::MAX, 0xa, 0xf000_0000_0000_0000] {
            assert_eq!(EntityId(v).to_hex(), format!("{v:016x}").as_bytes());
        }
    }

    #[test]
    fn entity_ids_are_16_lowercase_hex_and_distinct() {
        let a = EntityId::generate();
        let b = EntityId::generate();
        assert_ne!(a, b);
        let s = a.to_string();
        assert_eq!(s.len(), 16);
        assert!(s
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        assert_eq!(EntityId::parse(&s).unwrap(), a);
    }

    #[test]
    fn malformed_ids_are_errors() {
        assert!(EntityId::parse("123").is_err());
        assert!(EntityId::parse("zzzzzzzzzzzzzzzz").is_err());
        assert!(TraceId::parse("2-5759e988-bd862e3fe1be46a994272793").is_err());
        assert!(TraceId::parse("1-5759e98g-bd862e3fe1be46a994272793").is_err());
        assert!(TraceId::parse("1-5759e988bd862e3fe1be46a994272793").is_err());
        assert!(TraceId::parse("").is_err());
    }

    #[test]
    fn reseed_changes_the_stream() {
        let before = EntityId::generate();
        reseed_after_fork();
        let after = EntityId::generate();
        assert_ne!(before, after);
    }
}
