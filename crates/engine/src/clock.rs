//! The engine's one source of "now", so tests can fix or skew time.

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The computer's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The computer's clock moved by a fixed offset: an office PC whose clock is wrong.
#[derive(Debug, Clone, Copy)]
pub struct SkewedClock(pub chrono::Duration);

impl Clock for SkewedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.0
    }
}

pub(crate) fn to_bson(t: DateTime<Utc>) -> bson::DateTime {
    bson::DateTime::from_chrono(t)
}
