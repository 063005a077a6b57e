//! The upload budget: a bound on the bytes that uploads in progress hold,
//! in memory and in spool files together (`PIXGATE_UPLOAD_BUDGET_BYTES`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The bytes held for uploads in progress, shared by every worker.
///
/// The counter is the one record of what is held, and a [`Reservation`]
/// is the only way to change it. Taking bytes is a single compare-and-add
/// that fails rather than pass the limit, so two uploads can never both
/// take the last bytes, and giving them back is a single subtraction: no
/// lock is needed, and no reader ever needs more than one value. A
/// reservation gives its bytes back when it is dropped, whether the upload
/// was answered, failed or its client went away (the request's future is
/// dropped at any `.await`), so nothing leaks.
#[derive(Clone, Debug)]
pub struct UploadBudget {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    limit: u64,
    held: AtomicU64,
}

/// The budget has no room for the bytes asked for.
#[derive(Debug, thiserror::Error)]
#[error("uploads in progress hold the upload budget of {limit} bytes")]
pub struct Busy {
    pub limit: u64,
}

impl UploadBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: u64) -> Self {
        Self {
            inner: Arc::new(Inner {
                limit,
                held: AtomicU64::new(0),
            }),
        }
    }

    /// Reserves `bytes` up front (a body's `Content-Length`), or fails.
    pub fn reserve(&self, bytes: u64) -> Result<Reservation, Busy> {
        let mut reservation = Reservation {
            budget: self.clone(),
            reserved: 0,
            used: 0,
        };
        // Taken now, used as the bytes arrive.
        reservation.hold(bytes)?;
        reservation.used = 0;
        Ok(reservation)
    }

    /// The bytes held right now.
    pub fn held(&self) -> u64 {
        self.inner.held.load(Ordering::Acquire)
    }

    /// Adds `bytes` unless that passes the limit.
    fn take(&self, bytes: u64) -> Result<(), Busy> {
        let limit = self.inner.limit;
        self.inner
            .held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(bytes).filter(|total| *total <= limit)
            })
            .map(drop)
            .map_err(|_| Busy { limit })
    }

    fn give_back(&self, bytes: u64) {
        self.inner.held.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// One upload's share of the budget, given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: UploadBudget,
    /// Taken from the budget.
    reserved: u64,
    /// Of those, held now.
    used: u64,
}

impl Reservation {
    /// Counts `bytes` more as held: from what was reserved up front while
    /// it lasts, else taken from the budget.
    pub fn hold(&mut self, bytes: u64) -> Result<(), Busy> {
        let used = self.used.saturating_add(bytes);
        if used > self.reserved {
            self.budget.take(used - self.reserved)?;
            self.reserved = used;
        }
        self.used = used;
        Ok(())
    }

    /// Moves `bytes` of those held (at most all of them) into a
    /// reservation of their own, for a finished file that outlives the
    /// request's reading; the budget's count does not change.
    pub fn split_off(&mut self, bytes: u64) -> Reservation {
        let bytes = bytes.min(self.used);
        self.used -= bytes;
        self.reserved -= bytes;
        Reservation {
            budget: self.budget.clone(),
            reserved: bytes,
            used: bytes,
        }
    }

    /// Gives back `bytes` that are no longer held (a copy that was dropped).
    pub fn release(&mut self, bytes: u64) {
        let bytes = bytes.min(self.used);
        self.used -= bytes;
        self.reserved -= bytes;
        self.budget.give_back(bytes);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give_back(self.reserved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_never_pass_the_limit_and_give_their_bytes_back() {
        let budget = UploadBudget::new(100);
        let first = budget.reserve(60).expect("fits");
        assert!(budget.reserve(41).is_err(), "60 + 41 > 100");
        let mut second = budget.reserve(40).expect("60 + 40 fits");
        assert_eq!(budget.held(), 100);
        assert!(second.hold(40).is_ok(), "within its own reservation");
        assert!(second.hold(1).is_err(), "past it, and the budget is full");
        drop(first);
        assert_eq!(budget.held(), 40);
        second.hold(10).expect("room again");
        assert_eq!(budget.held(), 50);
        second.release(30);
        assert_eq!(budget.held(), 20);
        drop(second);
        assert_eq!(budget.held(), 0, "nothing leaks");
    }

    #[test]
    fn bytes_held_as_they_arrive_are_taken_one_chunk_at_a_time() {
        let budget = UploadBudget::new(10);
        let mut growing = budget.reserve(0).expect("nothing to reserve");
        for _ in 0..10 {
            growing.hold(1).expect("fits");
        }
        assert!(growing.hold(1).is_err());
        assert_eq!(budget.held(), 10, "a refused chunk takes nothing");
        drop(growing);
        assert_eq!(budget.held(), 0);
    }

    #[test]
    fn concurrent_reservations_take_exactly_the_budget() {
        let budget = UploadBudget::new(1000);
        let granted: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let budget = budget.clone();
                    scope.spawn(move || {
                        (0..1000)
                            .filter_map(|_| budget.reserve(1).ok())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("joined"))
                .collect()
        });
        assert_eq!(granted.len(), 1000, "every byte once, none twice");
        drop(granted);
        assert_eq!(budget.held(), 0);
    }
}
