//! Simulated wall clock: a fixed epoch plus simulated elapsed time, plus a per-host skew
//! that a `clock-skew` fault can change mid-run. Monotonic time (tokio's `Instant`, virtual
//! under turmoil) is never skewed: only what a host reads as "now" in UTC moves.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration as ChronoDuration, Utc};

use bloodraven::clock::WallClock;

/// 2026-01-01T00:00:00Z: every run starts here, so stamps are reproducible.
pub fn epoch() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).expect("valid epoch")
}

#[derive(Default)]
pub struct SimClock {
    skew_ms: AtomicI64,
}

impl SimClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// From now on this clock reads true time plus `offset_ms`.
    pub fn set_skew_ms(&self, offset_ms: i64) {
        self.skew_ms.store(offset_ms, Ordering::Relaxed);
    }
}

impl WallClock for SimClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = turmoil::sim_elapsed().unwrap_or_default();
        epoch()
            + ChronoDuration::from_std(elapsed).expect("elapsed fits")
            + ChronoDuration::milliseconds(self.skew_ms.load(Ordering::Relaxed))
    }
}
