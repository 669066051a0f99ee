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
    let frac = micros % 1_000_000;
    write_u64(out, secs);
    out.push(b'.');
    let mut digits = [b'0'; 6];
    let mut rest = frac as usize;
    for i in (0..3).rev() {
        let pair = (rest % 100) * 2;
        rest /= 100;
        digits[i * 2..i * 2 + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    out.extend_from_slice(&digits);
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
    }

    #[test]
    fn clock_is_after_2020() {
        assert!(now_secs() > 1_577_836_800);
    }
}
