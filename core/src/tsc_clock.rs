//! The wall clock read from the CPU's time-stamp counter, where that is safe.
//!
//! Every sampled entity reads the clock twice. Through the vDSO, `clock_gettime` reads the
//! time-stamp counter (TSC) too, but adds a sequence-locked read of the kernel's clock data and
//! its own scaling: measured on the development VM, about twice the cost of `rdtsc` alone, and
//! about a tenth of what a whole subsegment costs. This clock reads the TSC and scales it along
//! a line fitted to `clock_gettime(CLOCK_REALTIME)`:
//!
//! - it is used only where the kernel itself keeps time with the TSC (x86-64, an invariant TSC
//!   according to CPUID, and `tsc` as the current clocksource), so the counter is synchronized
//!   across CPUs and runs at a constant rate; anywhere else every read is `clock_gettime`;
//! - the rate is measured over at least [`CALIBRATION_NANOS`] of real time before the clock is
//!   used; a line is used for at most twice the time its rate was measured over (so its error
//!   stays within a few µs) and at most [`MAX_HORIZON_NANOS`], then re-anchored to the system
//!   clock (following NTP's slewing and any step of the system time); at the start of every
//!   segment and Lambda invocation the system clock is read and compared with the line
//!   ([`checked_now_nanos`]), which is re-anchored if it is off (a Lambda environment can be
//!   frozen between invocations, a machine suspended, with the counter stopped);
//! - `OXRAY_CLOCK=system` turns it off.
//!
//! The line is published with a sequence lock: readers never write shared memory.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// Real time the rate is first measured over.
const CALIBRATION_NANOS: u64 = 20_000_000;
/// Longest a line is used before it is re-anchored to the system clock. A line is used for
/// at most twice the time its rate was measured over, so its error stays within about twice
/// the uncertainty of one clock reading (see [`paired_read`]) while that time grows from
/// [`CALIBRATION_NANOS`] to this.
const MAX_HORIZON_NANOS: u64 = 1_000_000_000;
/// How far the line may be from the system clock when [`checked_now_nanos`] compares them.
const MAX_CHECKED_ERROR_NANOS: u64 = 50_000;
/// A reading of the system clock is paired with the counter only when the counter reads
/// before and after it are at most this far apart (2 µs at 2.3 GHz, where a system clock read
/// takes ~60 ticks): a thread preempted in between would otherwise skew the rate.
const MAX_PAIR_TICKS: u64 = 5_000;
/// A re-measured rate further than this (parts per million) from the current one means the
/// system time was stepped, not slewed: the offset is re-anchored, the rate kept.
const MAX_RATE_CHANGE_PPM: u64 = 1_000;

const UNKNOWN: u8 = 0;
const CALIBRATING: u8 = 1;
const ON: u8 = 2;
const OFF: u8 = 3;

static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

/// The line `nanos + (tsc_now - tsc) * rate / 2^32`, valid for `horizon` ticks after `tsc`.
/// `seq` is odd while a writer changes the fields.
struct Line {
    seq: AtomicU64,
    tsc: AtomicU64,
    nanos: AtomicU64,
    rate: AtomicU64,
    horizon: AtomicU64,
}

static LINE: Line = Line {
    seq: AtomicU64::new(0),
    tsc: AtomicU64::new(0),
    nanos: AtomicU64::new(0),
    rate: AtomicU64::new(0),
    horizon: AtomicU64::new(0),
};

#[derive(Clone, Copy)]
struct Fields {
    tsc: u64,
    nanos: u64,
    rate: u64,
    horizon: u64,
}

impl Line {
    /// A consistent copy of the fields, or None while a writer is changing them.
    fn read(&self) -> Option<Fields> {
        let before = self.seq.load(Ordering::Acquire);
        if before & 1 == 1 {
            return None;
        }
        let fields = Fields {
            tsc: self.tsc.load(Ordering::Relaxed),
            nanos: self.nanos.load(Ordering::Relaxed),
            rate: self.rate.load(Ordering::Relaxed),
            horizon: self.horizon.load(Ordering::Relaxed),
        };
        // Orders the field loads before the second sequence load.
        std::sync::atomic::fence(Ordering::Acquire);
        (self.seq.load(Ordering::Relaxed) == before).then_some(fields)
    }

    /// Replaces the fields unless another thread is doing so (it then wins).
    fn write(&self, f: Fields) {
        let seq = self.seq.load(Ordering::Relaxed);
        if seq & 1 == 1
            || self
                .seq
                .compare_exchange(seq, seq + 1, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        // Orders the odd sequence number before the field stores.
        std::sync::atomic::fence(Ordering::Release);
        self.tsc.store(f.tsc, Ordering::Relaxed);
        self.nanos.store(f.nanos, Ordering::Relaxed);
        self.rate.store(f.rate, Ordering::Relaxed);
        self.horizon.store(f.horizon, Ordering::Relaxed);
        self.seq.store(seq + 2, Ordering::Release);
    }
}

/// Nanoseconds since the Unix epoch from `clock_gettime(CLOCK_REALTIME)` (0 if unavailable).
pub(crate) fn system_nanos() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_REALTIME always exists.
    if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) } != 0 || ts.tv_sec < 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Nanoseconds since the Unix epoch: from the TSC when it is on, else the system clock.
#[inline]
pub(crate) fn now_nanos() -> u64 {
    if STATE.load(Ordering::Relaxed) == ON {
        if let Some(nanos) = tsc_nanos() {
            return nanos;
        }
    }
    slow_now_nanos()
}

/// The system clock's time, checked against the line (start of a segment or a Lambda
/// invocation): the line is re-anchored when it is more than [`MAX_CHECKED_ERROR_NANOS`] off,
/// as after the machine was frozen or suspended with its counter stopped. Writes nothing
/// shared when the line is right, so threads beginning segments at once do not contend.
pub(crate) fn checked_now_nanos() -> u64 {
    if STATE.load(Ordering::Relaxed) != ON {
        return slow_now_nanos();
    }
    let Some((tsc, nanos)) = paired_read() else {
        return system_nanos();
    };
    if let Some(line) = LINE.read() {
        if is_off(line, tsc, nanos) {
            reanchor(line, tsc, nanos);
        }
    }
    nanos
}

/// True when the line's time at `tsc` is more than [`MAX_CHECKED_ERROR_NANOS`] from `nanos`
/// (or `tsc` is before its anchor).
fn is_off(line: Fields, tsc: u64, nanos: u64) -> bool {
    tsc.checked_sub(line.tsc).is_none_or(|ticks| {
        let along = line.nanos + ((u128::from(ticks) * u128::from(line.rate)) >> 32) as u64;
        along.abs_diff(nanos) > MAX_CHECKED_ERROR_NANOS
    })
}

/// The counter and the system clock read together: the counter's value is the middle of
/// two reads around the system clock's, and None when those are too far apart.
fn paired_read() -> Option<(u64, u64)> {
    for _ in 0..3 {
        let before = counter();
        let nanos = system_nanos();
        let after = counter();
        if after >= before && after - before <= MAX_PAIR_TICKS && nanos != 0 {
            return Some((before + (after - before) / 2, nanos));
        }
    }
    None
}

/// The time along the line, or None when the line is being changed or is too old (the
/// caller then reads the system clock, which re-anchors it).
#[inline]
fn tsc_nanos() -> Option<u64> {
    let line = LINE.read()?;
    let ticks = counter().checked_sub(line.tsc)?;
    if ticks > line.horizon {
        return None;
    }
    Some(line.nanos + ((u128::from(ticks) * u128::from(line.rate)) >> 32) as u64)
}

/// Every read that does not go along the line: the system clock, and the line's state
/// changes (first use, calibration, re-anchoring).
#[cold]
fn slow_now_nanos() -> u64 {
    let state = STATE.load(Ordering::Relaxed);
    if state == OFF {
        return system_nanos();
    }
    let Some((tsc, nanos)) = paired_read() else {
        return system_nanos();
    };
    match state {
        UNKNOWN => start_calibration(tsc, nanos),
        CALIBRATING => finish_calibration(tsc, nanos),
        _ => {
            if let Some(line) = LINE.read() {
                reanchor(line, tsc, nanos);
            }
        }
    }
    nanos
}

fn start_calibration(tsc: u64, nanos: u64) {
    if STATE
        .compare_exchange(UNKNOWN, OFF, Ordering::AcqRel, Ordering::Relaxed)
        .is_err()
    {
        return; // another thread is deciding
    }
    if !supported() {
        return;
    }
    LINE.write(Fields {
        tsc,
        nanos,
        rate: 0,
        horizon: 0,
    });
    STATE.store(CALIBRATING, Ordering::Release);
}

fn finish_calibration(tsc: u64, nanos: u64) {
    let Some(start) = LINE.read() else { return };
    let (Some(real), Some(ticks)) = (nanos.checked_sub(start.nanos), tsc.checked_sub(start.tsc))
    else {
        STATE.store(OFF, Ordering::Relaxed);
        return;
    };
    if real < CALIBRATION_NANOS {
        return;
    }
    let Some(rate) = rate_of(real, ticks) else {
        STATE.store(OFF, Ordering::Relaxed);
        return;
    };
    LINE.write(Fields {
        tsc,
        nanos,
        rate,
        horizon: horizon_after(ticks, rate),
    });
    STATE.store(ON, Ordering::Release);
}

/// Moves the line's anchor to (`tsc`, `nanos`), with the rate measured since the last anchor
/// when that is plausible.
fn reanchor(line: Fields, tsc: u64, nanos: u64) {
    let (Some(real), Some(ticks)) = (nanos.checked_sub(line.nanos), tsc.checked_sub(line.tsc))
    else {
        // The system time went back, or the counter did (never on a synchronized TSC): a
        // new anchor with the same rate, used briefly.
        LINE.write(Fields {
            tsc,
            nanos,
            rate: line.rate,
            horizon: horizon_after(0, line.rate),
        });
        return;
    };
    // A short baseline measures the rate badly, and a jump means the time was stepped: then
    // only the offset moves.
    let (rate, baseline) = match rate_of(real, ticks) {
        Some(new) if real >= CALIBRATION_NANOS && close(new, line.rate) => (new, ticks),
        _ => (line.rate, 0),
    };
    LINE.write(Fields {
        tsc,
        nanos,
        rate,
        horizon: horizon_after(baseline, rate),
    });
}

/// How long (in ticks) a line whose rate was measured over `baseline` ticks is used: twice
/// that, within [`CALIBRATION_NANOS`] and [`MAX_HORIZON_NANOS`].
fn horizon_after(baseline: u64, rate: u64) -> u64 {
    baseline.saturating_mul(2).clamp(
        ticks_for(CALIBRATION_NANOS, rate),
        ticks_for(MAX_HORIZON_NANOS, rate),
    )
}

/// Nanoseconds per tick as a 32.32 fixed-point number.
fn rate_of(real_nanos: u64, ticks: u64) -> Option<u64> {
    if ticks == 0 {
        return None;
    }
    let rate = (u128::from(real_nanos) << 32) / u128::from(ticks);
    u64::try_from(rate).ok().filter(|r| *r > 0)
}

fn ticks_for(nanos: u64, rate: u64) -> u64 {
    ((u128::from(nanos) << 32) / u128::from(rate.max(1))).min(u128::from(u64::MAX)) as u64
}

fn close(a: u64, b: u64) -> bool {
    a.abs_diff(b) as u128 * 1_000_000 <= u128::from(b) * u128::from(MAX_RATE_CHANGE_PPM)
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn counter() -> u64 {
    // SAFETY: `rdtsc` has no preconditions on x86-64 (it is only used once `supported()`).
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[cfg(not(target_arch = "x86_64"))]
fn counter() -> u64 {
    0
}

/// x86-64 with an invariant TSC that the kernel keeps time with, and not turned off.
fn supported() -> bool {
    if std::env::var_os("OXRAY_CLOCK").is_some_and(|v| v == "system") {
        return false;
    }
    invariant_tsc() && kernel_uses_tsc()
}

#[cfg(target_arch = "x86_64")]
fn invariant_tsc() -> bool {
    use core::arch::x86_64::__cpuid;
    // Leaf 0x8000_0000 reports the highest extended leaf, asked before leaf 0x8000_0007
    // (advanced power management: bit 8 of EDX is the invariant TSC).
    __cpuid(0x8000_0000).eax >= 0x8000_0007 && __cpuid(0x8000_0007).edx & (1 << 8) != 0
}

#[cfg(not(target_arch = "x86_64"))]
fn invariant_tsc() -> bool {
    false
}

fn kernel_uses_tsc() -> bool {
    std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
        .is_ok_and(|s| s.trim() == "tsc")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_fixed_point_nanoseconds_per_tick() {
        // 3 GHz: a third of a nanosecond per tick.
        let rate = rate_of(1_000_000_000, 3_000_000_000).unwrap();
        assert_eq!(rate, (1u64 << 32) / 3);
        assert_eq!(rate_of(5, 0), None);
        let second = ticks_for(1_000_000_000, rate);
        assert!(second.abs_diff(3_000_000_000) < 10, "{second}");
        // A line is used for twice its baseline, from 20 ms up to 1 s.
        assert_eq!(horizon_after(0, rate), ticks_for(CALIBRATION_NANOS, rate));
        assert_eq!(horizon_after(90_000_000, rate), 180_000_000);
        assert_eq!(horizon_after(u64::MAX, rate), second);
    }

    #[test]
    fn a_line_left_behind_by_a_frozen_counter_is_caught() {
        // 1 GHz: one tick per ns (rate 1.0 in 32.32 fixed point).
        let line = Fields {
            tsc: 1_000,
            nanos: 5_000_000_000,
            rate: 1 << 32,
            horizon: 1_000_000_000,
        };
        assert!(!is_off(line, 2_000, 5_000_001_000));
        assert!(!is_off(line, 2_000, 5_000_040_000)); // 39 µs: within the slack
                                                      // The counter stood still for a minute while the system clock went on.
        assert!(is_off(line, 2_000, 65_000_001_000));
        assert!(is_off(line, 500, 5_000_000_000)); // before the anchor
    }

    #[test]
    fn a_rate_change_beyond_the_slew_limit_is_a_step() {
        let rate = 1u64 << 31;
        assert!(close(rate + rate / 10_000, rate)); // 100 ppm: slewing
        assert!(!close(rate + rate / 100, rate)); // 1%: the time was stepped
    }

    #[test]
    fn the_line_stays_with_the_system_clock() {
        // Whatever this machine supports, reads are close to the system clock and a thread's
        // reads never go back by more than a re-anchoring can move them.
        let mut last = 0;
        let deadline = system_nanos() + 3 * CALIBRATION_NANOS;
        let mut reads = 0u64;
        while system_nanos() < deadline || reads < 1000 {
            let before = system_nanos();
            let ours = now_nanos();
            let after = system_nanos();
            // 50 µs of slack: the line is fitted to the system clock within a few µs.
            assert!(
                ours + 50_000 >= before && ours <= after + 50_000,
                "{before} {ours} {after}"
            );
            assert!(ours + 50_000 >= last, "went back: {last} -> {ours}");
            last = ours;
            reads += 1;
        }
        let checked = checked_now_nanos();
        assert!(checked + 50_000 >= last);
    }

    #[test]
    fn threads_reading_at_once_all_stay_with_the_system_clock() {
        // Four threads through calibration and re-anchorings (each may be the one to move the
        // line); every read lies within the system clock's reads around it, give or take the
        // line's error, and a thread's reads never go back by more than that.
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let deadline = system_nanos() + 4 * CALIBRATION_NANOS;
                    let mut last = 0;
                    while system_nanos() < deadline {
                        let before = system_nanos();
                        let ours = now_nanos();
                        let after = system_nanos();
                        assert!(ours + 50_000 >= before && ours <= after + 50_000);
                        assert!(ours + 50_000 >= last, "went back: {last} -> {ours}");
                        last = ours;
                    }
                });
            }
        });
    }

    #[test]
    fn the_sequence_lock_never_hands_out_a_torn_line() {
        let line = Line {
            seq: AtomicU64::new(0),
            tsc: AtomicU64::new(0),
            nanos: AtomicU64::new(0),
            rate: AtomicU64::new(0),
            horizon: AtomicU64::new(0),
        };
        let line = &line;
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 1..20_000u64 {
                    line.write(Fields {
                        tsc: i,
                        nanos: i,
                        rate: i,
                        horizon: i,
                    });
                }
            });
            s.spawn(|| {
                for _ in 0..20_000 {
                    if let Some(f) = line.read() {
                        assert!(f.tsc == f.nanos && f.nanos == f.rate && f.rate == f.horizon);
                    }
                }
            });
        });
    }
}
