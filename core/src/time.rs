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
    let mut rest = frac;
    for slot in digits.iter_mut().rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    out.extend_from_slice(&digits);
}

/// Appends the decimal digits of `v` without allocating.
pub fn write_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
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
    fn clock_is_after_2020() {
        assert!(now_secs() > 1_577_836_800);
    }
}
