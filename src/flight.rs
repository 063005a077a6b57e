//! Single flight: concurrent callers asking for the same key share one run
//! of the work and its outcome, success or failure.
//!
//! moka's own coalescing (`and_try_compute_with`, `try_get_with`) shares
//! only successes: when the leader's fetch fails, the next waiter runs its
//! own fetch, so N callers behind a failing upstream make N sequential calls
//! (each up to the upstream timeout). [`Flights`] shares whatever the work
//! returns, errors included, so N callers make one call and all get its
//! answer as soon as it ends.
//!
//! # Ownership
//! The map of running flights is owned by the [`Flights`] value; the only
//! code that touches it is [`Flights::run`] (to join or insert) and the
//! [`Landing`] guard inside each flight's task (to remove its own entry).
//! The lock around it is a plain mutex held for one map operation, never
//! across an await, so it needs no async lock and cannot deadlock; no other
//! lock is needed because the outcome itself is handed out by the flight's
//! shared future, not through the map.
//!
//! # Drop safety
//! The work runs in its own spawned task, so a caller that goes away (a
//! client disconnecting) cancels nothing for the others. The task holds a
//! [`Landing`] guard that clears the flight's entry when the task ends in
//! any way: its work finished, it panicked (the guard drops while
//! unwinding), or the task itself was dropped (runtime shutdown). Waiters
//! of a flight that panicked or was dropped get [`Crashed`]; the next caller
//! starts a new flight.

use futures_util::future::{BoxFuture, FutureExt, Shared};
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Whether a caller started the flight it got its outcome from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// It found no flight for the key and started one.
    Led,
    /// It joined a flight another caller had started.
    Joined,
}

/// The flight's task panicked or was dropped before its work finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the shared work stopped before it finished")]
pub struct Crashed;

type Outcome<V> = Shared<BoxFuture<'static, Result<V, Crashed>>>;

struct Flight<V> {
    /// Tells this flight from a later one for the same key.
    id: u64,
    outcome: Outcome<V>,
}

type Running<K, V> = Mutex<HashMap<K, Flight<V>>>;

/// The running flights, by key. Cheap to clone; clones share the flights.
pub struct Flights<K, V> {
    running: Arc<Running<K, V>>,
    next_id: Arc<AtomicU64>,
}

impl<K, V> Clone for Flights<K, V> {
    fn clone(&self) -> Self {
        Self {
            running: Arc::clone(&self.running),
            next_id: Arc::clone(&self.next_id),
        }
    }
}

impl<K, V> Default for Flights<K, V> {
    fn default() -> Self {
        Self {
            running: Arc::default(),
            next_id: Arc::default(),
        }
    }
}

impl<K, V> Flights<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// The outcome of the flight for `key`: the running one if there is
    /// one, else a new one running `work()` in a spawned task. `work` only
    /// builds the future (it is called under the map's lock and must not
    /// call back into these flights); it is not called when joining.
    pub async fn run<F, Fut>(&self, key: K, work: F) -> (Result<V, Crashed>, Role)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V> + Send + 'static,
    {
        let (outcome, role) = self.join(key, work);
        (outcome.await, role)
    }

    /// Like [`Flights::run`], but tells the caller's role at once (before
    /// the flight ends) and hands back the outcome to await. The flight
    /// runs whether or not the outcome is awaited.
    pub fn join<F, Fut>(
        &self,
        key: K,
        work: F,
    ) -> (
        impl Future<Output = Result<V, Crashed>> + Send + 'static,
        Role,
    )
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V> + Send + 'static,
    {
        let mut running = lock(&self.running);
        if let Some(flight) = running.get(&key) {
            return (flight.outcome.clone(), Role::Joined);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let landing = Landing {
            running: Arc::clone(&self.running),
            key: key.clone(),
            id,
        };
        let work = work();
        // The guard moves into the task: it drops when the task ends,
        // panics or is dropped. If the task ends before the entry is
        // inserted, its guard waits for this lock and then removes the entry.
        let task = tokio::spawn(async move {
            let _landing = landing;
            work.await
        });
        let outcome = async move { task.await.map_err(|_| Crashed) }
            .boxed()
            .shared();
        running.insert(
            key,
            Flight {
                id,
                outcome: outcome.clone(),
            },
        );
        (outcome, Role::Led)
    }

    /// How many flights are running (for tests and metrics).
    pub fn len(&self) -> usize {
        lock(&self.running).len()
    }

    /// Whether no flight is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Removes its flight's entry when the flight's task ends, however it ends.
struct Landing<K: Hash + Eq, V> {
    running: Arc<Running<K, V>>,
    key: K,
    id: u64,
}

impl<K: Hash + Eq, V> Drop for Landing<K, V> {
    fn drop(&mut self) {
        let mut running = lock(&self.running);
        if running.get(&self.key).is_some_and(|f| f.id == self.id) {
            running.remove(&self.key);
        }
    }
}

/// The map is only ever changed by single `HashMap` operations, so a panic
/// elsewhere cannot leave it half-changed: a poisoned lock is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::future::join_all;
    use std::sync::atomic::AtomicUsize;
    use tokio::sync::oneshot;

    #[tokio::test]
    async fn concurrent_callers_share_one_run_and_its_failure() {
        let flights: Flights<&str, Result<u32, String>> = Flights::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let (release, released) = oneshot::channel::<()>();
        let released = released.shared();
        let callers = join_all((0..20).map(|_| {
            let (runs, released) = (runs.clone(), released.clone());
            flights.run("key", move || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                let _ = released.await;
                Err("upstream failed".to_owned())
            })
        }));

        // `join!` polls every caller once (each joins or starts the flight
        // before its first await) and only then releases the work.
        let (outcomes, _) = tokio::join!(callers, async { release.send(()) });

        assert_eq!(runs.load(Ordering::SeqCst), 1, "one run for all");
        assert!(outcomes
            .iter()
            .all(|(outcome, _)| *outcome == Ok(Err("upstream failed".to_owned()))));
        let led = outcomes.iter().filter(|(_, role)| *role == Role::Led);
        assert_eq!(led.count(), 1);
        assert!(flights.is_empty(), "a finished flight is cleared");
    }

    #[tokio::test]
    async fn a_finished_flight_is_cleared_and_the_next_caller_runs_again() {
        let flights: Flights<u8, u32> = Flights::default();
        assert_eq!(flights.run(1, || async { 1 }).await, (Ok(1), Role::Led));
        assert_eq!(flights.run(1, || async { 2 }).await, (Ok(2), Role::Led));
        assert!(flights.is_empty());
    }

    #[tokio::test]
    async fn a_flight_whose_task_panics_is_cleared_and_its_waiters_told() {
        let flights: Flights<u8, u32> = Flights::default();
        let (release, released) = oneshot::channel::<()>();
        let leader = flights.run(1, || async move {
            let _ = released.await;
            panic!("injected panic in the shared work");
        });
        let joiner = flights.run(1, || async { 7 });

        let (leader, joiner, _) = tokio::join!(leader, joiner, async { release.send(()) });

        assert_eq!(leader, (Err(Crashed), Role::Led));
        assert_eq!(joiner, (Err(Crashed), Role::Joined));
        assert!(flights.is_empty(), "the panicked flight is cleared");
        assert_eq!(
            flights.run(1, || async { 8 }).await,
            (Ok(8), Role::Led),
            "the next caller starts a new flight"
        );
    }

    #[test]
    fn a_flight_whose_task_is_dropped_is_cleared() {
        let flights: Flights<u8, u32> = Flights::default();
        let dying = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let waiter = {
            let flights = flights.clone();
            dying.spawn(async move { flights.run(1, futures_util::future::pending::<u32>).await })
        };
        dying.block_on(async {
            while flights.is_empty() {
                tokio::task::yield_now().await;
            }
        });
        assert_eq!(flights.len(), 1, "the flight never ends by itself");

        // Shutting the runtime down drops the flight's task (and the waiter).
        drop(dying);
        drop(waiter);

        assert!(flights.is_empty(), "the dropped flight is cleared");
        let next = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        assert_eq!(
            next.block_on(flights.run(1, || async { 3 })),
            (Ok(3), Role::Led),
            "the next caller starts a new flight"
        );
    }
}
