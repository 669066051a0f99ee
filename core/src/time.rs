//! Wall-clock time in whole microseconds since the Unix epoch, as X-Ray wants it.

use std::cell::Cell;

/// Microseconds since the Unix epoch: the system clock, read through the time-stamp counter
/// where that is safe ([`crate::tsc_clock`]), else `clock_gettime` via the vDSO (no syscall).
/// Not through `SystemTime`, whose `duration_since` and 128-bit `as_micros` cost as much as
/// the clock read itself on the hot path (two reads per entity).
#[inline]
pub fn now_micros() -> u64 {
    crate::tsc_clock::now_nanos() / 1_000
}

/// [`now_micros`] straight from the system clock, checking the time-stamp counter's line
/// against it: for the start of a segment or Lambda invocation.
pub fn checked_now_micros() -> u64 {
    crate::tsc_clock::checked_now_nanos() / 1_000
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    now_micros() / 1_000_000
}

thread_local! {
    /// The last ten-digit second written on this thread and its digits: an entity's start
    /// and end (and its siblings') almost always fall in the same second.
    static LAST_SECOND: Cell<(u64, [u8; 10])> = const { Cell::new((0, [0; 10])) };
}

/// `micros` as the 17 bytes of decimal epoch seconds with six fractional digits
/// (`1480615200.010000`) when its seconds have ten digits (every time from 2001 to 2286), for
/// writers that place it at a fixed position; None otherwise.
#[inline]
pub fn ten_digit_epoch_seconds(micros: u64) -> Option<[u8; 17]> {
    let secs = micros / 1_000_000;
    if !(1_000_000_000..10_000_000_000).contains(&secs) {
        return None;
    }
    let mut text = [b'.'; 17];
    text[..10].copy_from_slice(&ten_digit_second(secs));
    write_pairs(&mut text[11..], (micros % 1_000_000) as u32);
    Some(text)
}

/// Writes `micros` as decimal epoch seconds with six fractional digits (`1480615200.010000`).
pub fn write_epoch_seconds(out: &mut Vec<u8>, micros: u64) {
    let secs = micros / 1_000_000;
    let frac = (micros % 1_000_000) as u32;
    let mut text = [b'0'; 17];
    // Every time from 2001 to 2286 has ten digits of seconds: written in one go.
    let digits = if (1_000_000_000..10_000_000_000).contains(&secs) {
        text[..10].copy_from_slice(&ten_digit_second(secs));
        10
    } else {
        write_u64(out, secs);
        0
    };
    text[digits] = b'.';
    write_pairs(&mut text[digits + 1..digits + 7], frac);
    out.extend_from_slice(&text[..digits + 7]);
}

/// The ten digits of `secs` (which has ten), from the per-thread cache when it is the same
/// second as last time.
fn ten_digit_second(secs: u64) -> [u8; 10] {
    let cached = LAST_SECOND.try_with(Cell::get).unwrap_or((0, [0; 10]));
    if cached.0 == secs {
        return cached.1;
    }
    let mut digits = [0u8; 10];
    write_pairs(&mut digits[..2], (secs / 100_000_000) as u32);
    write_pairs(&mut digits[2..], (secs % 100_000_000) as u32);
    let _ = LAST_SECOND.try_with(|last| last.set((secs, digits)));
    digits
}

/// Fills `out` (an even number of bytes) with the low decimal digits of `v`, two at a time.
fn write_pairs(out: &mut [u8], mut v: u32) {
    for pair_slot in out.rchunks_exact_mut(2) {
        let pair = (v % 100) as usize * 2;
        v /= 100;
        pair_slot.copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
}

const DIGIT_PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends the decimal digits of `v` without allocating (two digits per step).
pub fn write_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    while v >= 100 {
        let pair = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if v >= 10 {
        let pair = v as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    out.extend_from_slice(&buf[i..]);
}

/// Converts floating epoch seconds (as found in documents) to microseconds.
pub fn seconds_to_micros(secs: f64) -> Option<u64> {
    if secs.is_finite() && secs >= 0.0 {
        Some((secs * 1_000_000.0).round() as u64)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_microsecond_resolution() {
        let mut out = Vec::new();
        write_epoch_seconds(&mut out, 1_480_615_200_010_000);
        assert_eq!(out, b"1480615200.010000");
    }

    #[test]
    fn integers() {
        for v in [0u64, 7, 10, 99, 100, 101, 12345, u64::MAX] {
            let mut out = Vec::new();
            write_u64(&mut out, v);
            assert_eq!(out, v.to_string().as_bytes());
        }
        let mut out = Vec::new();
        write_epoch_seconds(&mut out, 5_000_007);
        assert_eq!(out, b"5.000007");
        for micros in [
            1_000_000_000_000_000u64,
            1_480_615_200_010_000,
            1_999_999_999_999_999,
            9_999_999_999_999_999,
            10_000_000_000_000_000,
            999_999_999_999_999,
            0,
        ] {
            let mut out = Vec::new();
            write_epoch_seconds(&mut out, micros);
            let expected = format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000);
            assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }

    #[test]
    fn fixed_width_text_is_the_written_text_or_none() {
        for micros in [
            1_000_000_000_000_000u64,
            1_480_615_200_010_000,
            1_700_000_000_000_001,
            9_999_999_999_999_999,
            10_000_000_000_000_000,
            999_999_999_999_999,
            5_000_007,
            0,
        ] {
            let mut out = Vec::new();
            write_epoch_seconds(&mut out, micros);
            match ten_digit_epoch_seconds(micros) {
                Some(text) => assert_eq!(&text[..], &out[..], "{micros}"),
                None => assert_ne!(out.len(), 17, "{micros}"),
            }
        }
        assert!(ten_digit_epoch_seconds(1_480_615_200_010_000).is_some());
        assert!(ten_digit_epoch_seconds(10_000_000_000_000_000).is_none());
    }

    #[test]
    fn clock_is_after_2020() {
        assert!(now_secs() > 1_577_836_800);
    }

    #[test]
    fn clock_agrees_with_system_time() {
        let system = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as u64;
        let ours = now_micros();
        // Read one after the other: equal to within a generous second.
        assert!(ours.abs_diff(system) < 1_000_000, "{ours} vs {system}");
    }

    #[test]
    fn cached_second_gives_the_same_text_as_a_fresh_one() {
        // Same second twice, then a new second, then back: the cache must follow.
        for micros in [
            1_700_000_000_000_001u64,
            1_700_000_000_999_999,
            1_700_000_001_000_000,
            1_700_000_000_500_000,
            1_999_999_999_000_000,
            1_700_000_000_500_000,
        ] {
            let mut out = Vec::new();
            write_epoch_seconds(&mut out, micros);
            let expected = format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000);
            assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }
}
