//! What time it is, as a service sees it: the system's clock in production, a clock the test
//! moves by hand where time itself is what is tested (support's response deadlines).

use std::sync::Mutex;

use chrono::{DateTime, Duration, FixedOffset, Utc};

/// Sri Lanka's clock: UTC+05:30 all year (no daylight saving), the shop's days and hours.
pub fn colombo() -> FixedOffset {
    FixedOffset::east_opt(5 * 3600 + 30 * 60).expect("a valid offset")
}

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until moved.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn at(start: DateTime<Utc>) -> Self {
        Self(Mutex::new(start))
    }

    /// Moves the clock on by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
