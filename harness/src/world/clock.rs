//! Simulated wall clock: a fixed epoch plus simulated elapsed time, plus a per-host skew.

use chrono::{DateTime, Duration as ChronoDuration, Utc};

use bloodraven::clock::WallClock;

/// 2026-01-01T00:00:00Z: every run starts here, so stamps are reproducible.
pub fn epoch() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).expect("valid epoch")
}

pub struct SimClock {
    pub skew: ChronoDuration,
}

impl SimClock {
    pub fn new() -> Self {
        Self {
            skew: ChronoDuration::zero(),
        }
    }
}

impl Default for SimClock {
    fn default() -> Self {
        Self::new()
    }
}

impl WallClock for SimClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = turmoil::sim_elapsed().unwrap_or_default();
        epoch() + ChronoDuration::from_std(elapsed).expect("elapsed fits") + self.skew
    }
}
