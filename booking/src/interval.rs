//! The half-open UTC interval every other module speaks in (availability, slots, busy times).
//! It depends on nothing else in the crate, so every module can use it without a circle.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A half-open UTC interval `[start, end)`; empty when `end <= start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Interval {
    /// First instant inside.
    pub start: DateTime<Utc>,
    /// First instant after.
    pub end: DateTime<Utc>,
}

impl Interval {
    /// Whether the two share an instant (touching intervals do not).
    pub fn overlaps(&self, other: &Interval) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// Whether `other` lies inside this one.
    pub fn contains(&self, other: &Interval) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    /// Whether it holds no instant.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}
