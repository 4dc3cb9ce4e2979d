//! At most one refresh at a time: later callers share the running one's result.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;

use futures::future::{FutureExt, LocalBoxFuture, Shared};

/// The shared handle on the operation in flight.
pub(crate) type InFlight<T> = Shared<LocalBoxFuture<'static, T>>;

/// Runs one operation at a time; a caller that arrives while one runs gets the same result.
pub(crate) struct SingleFlight<T: Clone + 'static> {
    current: Rc<RefCell<Option<InFlight<T>>>>,
}

impl<T: Clone + 'static> Default for SingleFlight<T> {
    fn default() -> Self {
        Self {
            current: Rc::default(),
        }
    }
}

impl<T: Clone + 'static> SingleFlight<T> {
    /// Joins the operation in flight, or starts `start()` if there is none. The operation
    /// runs only while somebody awaits the returned future.
    pub(crate) fn run<F>(&self, start: impl FnOnce() -> F) -> InFlight<T>
    where
        F: Future<Output = T> + 'static,
    {
        if let Some(in_flight) = self.current.borrow().as_ref() {
            return in_flight.clone();
        }
        let operation = start();
        let current = Rc::clone(&self.current);
        let in_flight = async move {
            let output = operation.await;
            current.borrow_mut().take();
            output
        }
        .boxed_local()
        .shared();
        *self.current.borrow_mut() = Some(in_flight.clone());
        in_flight
    }

    /// Whether an operation is running.
    pub(crate) fn in_flight(&self) -> bool {
        self.current.borrow().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::channel::oneshot;
    use futures::executor::LocalPool;
    use futures::task::LocalSpawnExt;
    use std::cell::Cell;

    #[test]
    fn concurrent_callers_share_one_run_and_a_later_caller_starts_another() {
        let flight = Rc::new(SingleFlight::<u32>::default());
        let calls = Rc::new(Cell::new(0));
        let (release, released) = oneshot::channel::<u32>();
        let released = Rc::new(RefCell::new(Some(released)));
        let results = Rc::new(RefCell::new(Vec::new()));
        let mut pool = LocalPool::new();
        for _ in 0..10 {
            let (flight, calls, released, results) = (
                flight.clone(),
                calls.clone(),
                released.clone(),
                results.clone(),
            );
            pool.spawner()
                .spawn_local(async move {
                    let shared = flight.run(|| {
                        calls.set(calls.get() + 1);
                        let released = released.borrow_mut().take().expect("started once");
                        async move { released.await.unwrap_or(0) }
                    });
                    let value = shared.await;
                    results.borrow_mut().push(value);
                })
                .unwrap();
        }
        pool.run_until_stalled();
        assert!(flight.in_flight());
        release.send(7).unwrap();
        pool.run_until_stalled();
        assert_eq!(calls.get(), 1);
        assert_eq!(*results.borrow(), vec![7; 10]);
        assert!(!flight.in_flight());

        let again = flight.run(|| async { 8 });
        assert_eq!(pool.run_until(again), 8);
    }
}
