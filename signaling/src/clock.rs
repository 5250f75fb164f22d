//! The hub's clock: the one place it learns the time.
//!
//! The hub's decisions that depend on time — whether an admission has expired, the rate
//! limit's bucket, the `since` of a lobby entry and the `sent_at` of a chat message, the
//! validity of join tokens and TURN credentials — read it from the [`Clock`] it is given,
//! once per event, and pass that time down as an argument (as the SFU core takes `now`).
//! [`SystemClock`] is the real one; [`ManualClock`] is moved by hand, so tests of those
//! decisions neither wait nor race the wall clock.
//!
//! Timers (the idle timeout, the resume grace, the close handshake) are the async shell's:
//! they stay on tokio's timer, which tests control with tokio's paused time.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Where the hub reads the time.
pub trait Clock: Send + Sync + 'static {
    /// Monotonic time (expiry of admissions, the rate limit).
    fn monotonic(&self) -> Instant;
    /// Wall-clock time (timestamps shown to people, token and TURN credential times).
    fn wall(&self) -> SystemTime;

    /// Wall-clock time in whole seconds since the Unix epoch (0 before it).
    fn unix_secs(&self) -> u64 {
        self.wall()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// The real clock: tokio's monotonic clock (paused with tokio's test time) and the system's
/// wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn monotonic(&self) -> Instant {
        Instant::now()
    }
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that stands still until [`ManualClock::advance`] moves it: for tests.
#[derive(Debug)]
pub struct ManualClock {
    monotonic: Instant,
    wall: SystemTime,
    elapsed: Mutex<Duration>,
}

impl ManualClock {
    /// A clock whose wall time is `wall` and whose monotonic time is tokio's now.
    pub fn starting_at(wall: SystemTime) -> Self {
        ManualClock {
            monotonic: Instant::now(),
            wall,
            elapsed: Mutex::new(Duration::ZERO),
        }
    }

    /// Moves both times forward by `by`.
    pub fn advance(&self, by: Duration) {
        *self.elapsed.lock().unwrap_or_else(|p| p.into_inner()) += by;
    }

    fn elapsed(&self) -> Duration {
        *self.elapsed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Clock for ManualClock {
    fn monotonic(&self) -> Instant {
        self.monotonic + self.elapsed()
    }
    fn wall(&self) -> SystemTime {
        self.wall + self.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_clock_moves_only_when_advanced() {
        let start = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let c = ManualClock::starting_at(start);
        let m = c.monotonic();
        assert_eq!((c.wall(), c.monotonic()), (start, m));
        c.advance(Duration::from_secs(90));
        assert_eq!(c.wall(), start + Duration::from_secs(90));
        assert_eq!(c.monotonic(), m + Duration::from_secs(90));
        assert_eq!(c.unix_secs(), 1_800_000_090);
    }
}
