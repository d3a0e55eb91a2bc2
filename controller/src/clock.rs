//! The time seam. Monotonic time is tokio's (simulated under turmoil); wall-clock time,
//! used only for stamps that leave the process (status, annotations), comes from a
//! [`WallClock`] handed in at start-up.

use std::sync::Arc;

use chrono::{DateTime, Utc};

pub trait WallClock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

pub type SharedClock = Arc<dyn WallClock>;

/// Production wall clock.
pub struct SystemClock;

impl WallClock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
