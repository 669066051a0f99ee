//! Wall-clock time in whole microseconds since the Unix epoch, as X-Ray wants it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch. `clock_gettime` via the vDSO: no syscall.
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    now_micros() / 1_000_000
}

/// Writes `micros` as decimal epoch seconds with six fractional digits (`1480615200.010000`).
pub fn write_epoch_seconds(out: &mut Vec<u8>, micros: u64) {
    let secs = micros / 1_000_000;
    let frac = (micros % 1_000_000) as u32;
    let mut text = [b'0'; 17];
    // Every time from 2001 to 2286 has ten digits of seconds: written in one go.
    let digits = if (1_000_000_000..10_000_000_000).contains(&secs) {
        write_pairs(&mut text[..2], (secs / 100_000_000) as u32);
        write_pairs(&mut text[2..10], (secs % 100_000_000) as u32);
        10
    } else {
        write_u64(out, secs);
        0
    };
    text[digits] = b'.';
    write_pairs(&mut text[digits + 1..digits + 7], frac);
    out.extend_from_slice(&text[..digits + 7]);
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
    fn clock_is_after_2020() {
        assert!(now_secs() > 1_577_836_800);
    }
}
