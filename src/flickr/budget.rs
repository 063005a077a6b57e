//! Flickr's key budget: "stays under 3600 queries per hour across the whole
//! key". Flickr sends no rate-limit headers, so the client counts its own
//! calls here (every request sent, whatever the answer) and
//! `GET /v1/rate-limits` will show the count.
//!
//! The window slides: calls are counted per minute in a ring of 60 buckets,
//! so the count is of the last 60 minutes (to the minute), and the memory
//! stays fixed however many calls are made.

use super::signing::unix_time;
use std::sync::Mutex;

const BUCKETS: usize = 60;
const BUCKET_SECS: u64 = 60;

/// The calls made with the app's key in the last hour.
///
/// One `std::sync::Mutex` guards the ring: every critical section is a few
/// array operations and never spans an `.await`, so a blocking mutex is
/// correct and cheaper than an async one; the client is its only writer.
#[derive(Debug, Default)]
pub struct CallBudget {
    ring: Mutex<Ring>,
}

#[derive(Debug)]
struct Ring {
    /// Per bucket: which minute (Unix seconds / 60) it counts, and how many calls.
    buckets: [(u64, u32); BUCKETS],
}

/// The budget as of one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetSnapshot {
    /// Calls per hour Flickr allows a key.
    pub limit: u32,
    /// Calls made in the last hour.
    pub used: u32,
    /// `limit - used`, never below 0.
    pub remaining: u32,
    /// Seconds until the oldest counted calls leave the window; `None` when none are counted.
    pub frees_in_secs: Option<u64>,
}

impl Default for Ring {
    fn default() -> Self {
        Self {
            buckets: [(0, 0); BUCKETS],
        }
    }
}

impl CallBudget {
    /// Flickr's limit per key and hour.
    pub const LIMIT: u32 = 3600;

    /// Counts one call now.
    pub fn record(&self) {
        self.record_at(unix_time());
    }

    /// The budget now.
    pub fn snapshot(&self) -> BudgetSnapshot {
        self.snapshot_at(unix_time())
    }

    fn record_at(&self, unix_secs: u64) {
        let minute = unix_secs / BUCKET_SECS;
        let mut ring = self.lock();
        let bucket = &mut ring.buckets[(minute % BUCKETS as u64) as usize];
        if bucket.0 != minute {
            *bucket = (minute, 0);
        }
        bucket.1 = bucket.1.saturating_add(1);
    }

    fn snapshot_at(&self, unix_secs: u64) -> BudgetSnapshot {
        let minute = unix_secs / BUCKET_SECS;
        let oldest_counted = minute.saturating_sub(BUCKETS as u64 - 1);
        let ring = self.lock();
        let live = ring
            .buckets
            .iter()
            .filter(|(m, count)| *count > 0 && *m >= oldest_counted && *m <= minute);
        let (used, oldest) = live.fold((0u32, None::<u64>), |(used, oldest), (m, count)| {
            (
                used.saturating_add(*count),
                Some(oldest.map_or(*m, |o| o.min(*m))),
            )
        });
        BudgetSnapshot {
            limit: Self::LIMIT,
            used,
            remaining: Self::LIMIT.saturating_sub(used),
            frees_in_secs: oldest
                .map(|m| ((m + BUCKETS as u64) * BUCKET_SECS).saturating_sub(unix_secs)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        // A panic while counting leaves the ring consistent: keep counting.
        self.ring
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000 - 1_700_000_000 % 60;

    #[test]
    fn calls_in_the_last_hour_are_counted() {
        let budget = CallBudget::default();
        for i in 0..10 {
            budget.record_at(T0 + i * 30);
        }
        let snapshot = budget.snapshot_at(T0 + 300);
        assert_eq!(snapshot.used, 10);
        assert_eq!(snapshot.remaining, CallBudget::LIMIT - 10);
        assert_eq!(snapshot.frees_in_secs, Some(3600 - 300));
    }

    #[test]
    fn calls_older_than_an_hour_leave_the_window() {
        let budget = CallBudget::default();
        budget.record_at(T0);
        budget.record_at(T0 + 1800);
        assert_eq!(budget.snapshot_at(T0 + 3599).used, 2);
        assert_eq!(
            budget.snapshot_at(T0 + 3600).used,
            1,
            "the first minute left"
        );
        let later = budget.snapshot_at(T0 + 1800 + 3600);
        assert_eq!((later.used, later.frees_in_secs), (0, None));
        // A bucket reused an hour later starts from zero.
        budget.record_at(T0 + 3600);
        assert_eq!(budget.snapshot_at(T0 + 3600).used, 2);
    }

    #[test]
    fn remaining_never_goes_below_zero() {
        let budget = CallBudget::default();
        for _ in 0..(CallBudget::LIMIT + 5) {
            budget.record_at(T0);
        }
        let snapshot = budget.snapshot_at(T0);
        assert_eq!(
            (snapshot.used, snapshot.remaining),
            (CallBudget::LIMIT + 5, 0)
        );
    }
}
