//! The manager's shared objects: named counters, locks, dicts, lists and queues.
//!
//! In CPython these are ordinary Python objects in the server process (a `Value`
//! namespace, a `threading.Lock`, a `dict`, a `list`, a `queue.Queue`) reached by
//! the connection threads; here they are Rust objects behind their own small locks,
//! so with `--manager-gil off` connection threads really run in parallel, and with
//! it on the simulated GIL serialises them as CPython's does.
//!
//! Blocking calls — acquiring a held lock, getting from an empty queue — wait with
//! the GIL released ([`Interp::allow_threads`]), as `threading.Lock.acquire` and
//! `queue.Queue.get` do in CPython.
//!
//! One deliberate difference: a lock remembers which connection holds it, and when
//! that connection ends (its worker crashed or was killed) the lock is released.
//! CPython keeps it held forever, so every other worker would hang; a benchmark
//! should rather report the crash.

use super::protocol::{Bytes, Request, Response};
use crate::runtime::interp::Interp;
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Identifies one client connection.
pub type ConnId = u64;

/// A lock whose holder is known.
#[derive(Debug, Default)]
struct ManagedLock {
    holder: Mutex<Option<ConnId>>,
    released: Condvar,
}

/// `queue.Queue(maxsize)`.
#[derive(Debug, Default)]
struct ManagedQueue {
    items: Mutex<VecDeque<Vec<u8>>>,
    not_empty: Condvar,
    not_full: Condvar,
}

type Table<T> = RwLock<HashMap<String, Arc<T>>>;

/// Every shared object of one server, by kind and name.
#[derive(Debug, Default)]
pub struct Objects {
    counters: Table<AtomicI64>,
    locks: Table<ManagedLock>,
    dicts: Table<Mutex<HashMap<String, Vec<u8>>>>,
    lists: Table<Mutex<Vec<Vec<u8>>>>,
    queues: Table<ManagedQueue>,
}

/// The object `name` in `table`, created empty on first use.
fn get<T: Default>(table: &Table<T>, name: &str) -> Arc<T> {
    if let Some(object) = table.read().get(name) {
        return Arc::clone(object);
    }
    Arc::clone(table.write().entry(name.to_string()).or_default())
}

fn deadline(timeout_ns: Option<u64>) -> Option<Instant> {
    timeout_ns.map(|ns| Instant::now() + Duration::from_nanos(ns))
}

impl Objects {
    /// Serves one object request for connection `conn`, handing the reply to
    /// `reply` (which may borrow from the object, so nothing is copied).
    /// Returns `None` for requests that are not about objects.
    pub fn serve<R>(
        &self,
        conn: ConnId,
        request: &Request<'_>,
        interp: &mut Interp<'_>,
        reply: impl FnOnce(&Response<'_>) -> R,
    ) -> Option<R> {
        Some(match *request {
            Request::ValueGet { name } => reply(&Response::Int(
                get(&self.counters, name).load(Ordering::SeqCst),
            )),
            Request::ValueSet { name, value } => {
                get(&self.counters, name).store(value, Ordering::SeqCst);
                reply(&Response::Done)
            }
            Request::ValueIncrement { name, by } => {
                let old = get(&self.counters, name).fetch_add(by, Ordering::SeqCst);
                reply(&Response::Int(old.wrapping_add(by)))
            }
            Request::LockAcquire { name, timeout_ns } => {
                let lock = get(&self.locks, name);
                reply(&Response::Acquired(acquire(
                    &lock, conn, timeout_ns, interp,
                )))
            }
            Request::LockRelease { name } => {
                let lock = get(&self.locks, name);
                let mut holder = lock.holder.lock();
                if holder.take().is_some() {
                    drop(holder);
                    lock.released.notify_one();
                    reply(&Response::Done)
                } else {
                    reply(&Response::Error("release unlocked lock"))
                }
            }
            Request::DictGet { name, key } => {
                let dict = get(&self.dicts, name);
                let dict = dict.lock();
                reply(&Response::Item(dict.get(key).map(|v| Bytes(v))))
            }
            Request::DictSet { name, key, value } => {
                let dict = get(&self.dicts, name);
                let mut dict = dict.lock();
                match dict.get_mut(key) {
                    Some(old) => {
                        old.clear();
                        old.extend_from_slice(value.0);
                    }
                    None => {
                        dict.insert(key.to_string(), value.0.to_vec());
                    }
                }
                drop(dict);
                reply(&Response::Done)
            }
            Request::DictDelete { name, key } => {
                let found = get(&self.dicts, name).lock().remove(key).is_some();
                reply(&Response::Bool(found))
            }
            Request::DictLen { name } => {
                let len = get(&self.dicts, name).lock().len();
                reply(&Response::Int(len as i64))
            }
            Request::ListAppend { name, item } => {
                get(&self.lists, name).lock().push(item.0.to_vec());
                reply(&Response::Done)
            }
            Request::ListGet { name, index } => {
                let list = get(&self.lists, name);
                let list = list.lock();
                let at = if index < 0 {
                    (list.len() as i64 + index).try_into().ok()
                } else {
                    usize::try_from(index).ok()
                };
                reply(&Response::Item(
                    at.and_then(|i: usize| list.get(i)).map(|v| Bytes(v)),
                ))
            }
            Request::ListLen { name } => {
                let len = get(&self.lists, name).lock().len();
                reply(&Response::Int(len as i64))
            }
            Request::QueuePut {
                name,
                item,
                maxsize,
                timeout_ns,
            } => {
                let queue = get(&self.queues, name);
                reply(&Response::Bool(put(
                    &queue, item.0, maxsize, timeout_ns, interp,
                )))
            }
            Request::QueueGet { name, timeout_ns } => {
                let queue = get(&self.queues, name);
                let item = take(&queue, timeout_ns, interp);
                reply(&Response::Item(item.as_deref().map(Bytes)))
            }
            Request::Ping | Request::Stats | Request::Shutdown => return None,
        })
    }

    /// Releases every lock `conn` holds: it is gone and cannot release them.
    pub fn release_all(&self, conn: ConnId) -> usize {
        let mut released = 0;
        for lock in self.locks.read().values() {
            let mut holder = lock.holder.lock();
            if *holder == Some(conn) {
                *holder = None;
                drop(holder);
                lock.released.notify_one();
                released += 1;
            }
        }
        released
    }
}

/// `lock.acquire(timeout=…)`: try first; if held, wait with the GIL released.
fn acquire(
    lock: &ManagedLock,
    conn: ConnId,
    timeout_ns: Option<u64>,
    interp: &mut Interp<'_>,
) -> bool {
    {
        let mut holder = lock.holder.lock();
        if holder.is_none() {
            *holder = Some(conn);
            return true;
        }
    }
    let deadline = deadline(timeout_ns);
    interp.allow_threads(|| {
        let mut holder = lock.holder.lock();
        loop {
            if holder.is_none() {
                *holder = Some(conn);
                return true;
            }
            match deadline {
                Some(d) => {
                    if lock.released.wait_until(&mut holder, d).timed_out() && holder.is_some() {
                        return false;
                    }
                }
                None => lock.released.wait(&mut holder),
            }
        }
    })
}

/// `queue.put(item, timeout=…)`: append if there is room; if full, wait with the
/// GIL released. False if no room came in time.
fn put(
    queue: &ManagedQueue,
    item: &[u8],
    maxsize: u64,
    timeout_ns: Option<u64>,
    interp: &mut Interp<'_>,
) -> bool {
    let full = |items: &VecDeque<Vec<u8>>| maxsize > 0 && items.len() as u64 >= maxsize;
    let push = |mut items: parking_lot::MutexGuard<'_, VecDeque<Vec<u8>>>| {
        items.push_back(item.to_vec());
        drop(items);
        queue.not_empty.notify_one();
        true
    };
    let items = queue.items.lock();
    if !full(&items) {
        return push(items);
    }
    drop(items);
    let deadline = deadline(timeout_ns);
    // Everything under the queue's lock happens inside: holding it while taking the
    // GIL back would deadlock with a GIL holder waiting for the queue.
    interp.allow_threads(|| {
        let mut items = queue.items.lock();
        while full(&items) {
            match deadline {
                Some(d) => {
                    if queue.not_full.wait_until(&mut items, d).timed_out() && full(&items) {
                        return false;
                    }
                }
                None => queue.not_full.wait(&mut items),
            }
        }
        push(items)
    })
}

/// `queue.get(timeout=…)`: pop if possible; if empty, wait with the GIL released.
fn take(queue: &ManagedQueue, timeout_ns: Option<u64>, interp: &mut Interp<'_>) -> Option<Vec<u8>> {
    let item = take_inner(queue, timeout_ns, interp);
    if item.is_some() {
        queue.not_full.notify_one();
    }
    item
}

fn take_inner(
    queue: &ManagedQueue,
    timeout_ns: Option<u64>,
    interp: &mut Interp<'_>,
) -> Option<Vec<u8>> {
    if let Some(item) = queue.items.lock().pop_front() {
        return Some(item);
    }
    let deadline = deadline(timeout_ns);
    interp.allow_threads(|| {
        let mut items = queue.items.lock();
        loop {
            if let Some(item) = items.pop_front() {
                return Some(item);
            }
            match deadline {
                Some(d) => {
                    if queue.not_empty.wait_until(&mut items, d).timed_out() && items.is_empty() {
                        return None;
                    }
                }
                None => queue.not_empty.wait(&mut items),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::interp::Lock;
    use crate::runtime::trace::TraceBuf;

    fn ask(objects: &Objects, conn: ConnId, request: Request<'_>) -> String {
        let mut interp = Interp::new(0, Lock::Free, TraceBuf::disabled());
        objects
            .serve(conn, &request, &mut interp, |r| format!("{r:?}"))
            .expect("an object request")
    }

    #[test]
    fn counters_dicts_lists() {
        let o = Objects::default();
        assert_eq!(ask(&o, 1, Request::ValueGet { name: "c" }), "Int(0)");
        assert_eq!(
            ask(&o, 1, Request::ValueIncrement { name: "c", by: 2 }),
            "Int(2)"
        );
        ask(
            &o,
            1,
            Request::ValueSet {
                name: "c",
                value: 10,
            },
        );
        assert_eq!(ask(&o, 1, Request::ValueGet { name: "c" }), "Int(10)");
        assert_eq!(ask(&o, 1, Request::ValueGet { name: "other" }), "Int(0)");

        ask(
            &o,
            1,
            Request::DictSet {
                name: "d",
                key: "k",
                value: Bytes(b"v1"),
            },
        );
        ask(
            &o,
            1,
            Request::DictSet {
                name: "d",
                key: "k",
                value: Bytes(b"v2"),
            },
        );
        assert_eq!(
            ask(
                &o,
                1,
                Request::DictGet {
                    name: "d",
                    key: "k"
                }
            ),
            "Item(Some(Bytes([118, 50])))"
        );
        assert_eq!(ask(&o, 1, Request::DictLen { name: "d" }), "Int(1)");
        assert_eq!(
            ask(
                &o,
                1,
                Request::DictDelete {
                    name: "d",
                    key: "k"
                }
            ),
            "Bool(true)"
        );
        assert_eq!(
            ask(
                &o,
                1,
                Request::DictDelete {
                    name: "d",
                    key: "k"
                }
            ),
            "Bool(false)"
        );
        assert_eq!(
            ask(
                &o,
                1,
                Request::DictGet {
                    name: "d",
                    key: "k"
                }
            ),
            "Item(None)"
        );

        ask(
            &o,
            1,
            Request::ListAppend {
                name: "l",
                item: Bytes(b"a"),
            },
        );
        ask(
            &o,
            1,
            Request::ListAppend {
                name: "l",
                item: Bytes(b"b"),
            },
        );
        assert_eq!(
            ask(
                &o,
                1,
                Request::ListGet {
                    name: "l",
                    index: -1
                }
            ),
            "Item(Some(Bytes([98])))"
        );
        assert_eq!(
            ask(
                &o,
                1,
                Request::ListGet {
                    name: "l",
                    index: 0
                }
            ),
            "Item(Some(Bytes([97])))"
        );
        assert_eq!(
            ask(
                &o,
                1,
                Request::ListGet {
                    name: "l",
                    index: 2
                }
            ),
            "Item(None)"
        );
        assert_eq!(
            ask(
                &o,
                1,
                Request::ListGet {
                    name: "l",
                    index: -3
                }
            ),
            "Item(None)"
        );
        assert_eq!(ask(&o, 1, Request::ListLen { name: "l" }), "Int(2)");
        assert!(o
            .serve(
                1,
                &Request::Ping,
                &mut Interp::new(0, Lock::Free, TraceBuf::disabled()),
                |_| ()
            )
            .is_none());
    }

    #[test]
    fn locks_time_out_and_are_released_for_dead_connections() {
        let o = Objects::default();
        let acquire = |_conn: ConnId, timeout_ns| Request::LockAcquire {
            name: "l",
            timeout_ns,
        };
        assert_eq!(ask(&o, 1, acquire(1, Some(0))), "Acquired(true)");
        let start = Instant::now();
        assert_eq!(ask(&o, 2, acquire(2, Some(20_000_000))), "Acquired(false)");
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert_eq!(o.release_all(2), 0);
        assert_eq!(o.release_all(1), 1, "connection 1 died holding the lock");
        assert_eq!(ask(&o, 2, acquire(2, Some(0))), "Acquired(true)");
        assert_eq!(ask(&o, 3, Request::LockRelease { name: "l" }), "Done");
        assert_eq!(
            ask(&o, 3, Request::LockRelease { name: "l" }),
            "Error(\"release unlocked lock\")"
        );
    }

    #[test]
    fn a_bounded_queue_makes_put_wait_for_room() {
        let o = Objects::default();
        let put = |timeout_ns| Request::QueuePut {
            name: "q",
            item: Bytes(b"i"),
            maxsize: 1,
            timeout_ns: Some(timeout_ns),
        };
        assert_eq!(ask(&o, 1, put(0)), "Bool(true)");
        let start = Instant::now();
        assert_eq!(ask(&o, 1, put(20_000_000)), "Bool(false)", "queue.Full");
        assert!(start.elapsed() >= Duration::from_millis(20));
        let get = Request::QueueGet {
            name: "q",
            timeout_ns: Some(0),
        };
        assert_eq!(ask(&o, 2, get.clone()), "Item(Some(Bytes([105])))");
        assert_eq!(ask(&o, 1, put(0)), "Bool(true)");
    }

    #[test]
    fn blocked_acquire_and_get_wake_up() {
        let o = Arc::new(Objects::default());
        ask(
            &o,
            1,
            Request::LockAcquire {
                name: "l",
                timeout_ns: None,
            },
        );
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                let got = ask(
                    &o,
                    2,
                    Request::LockAcquire {
                        name: "l",
                        timeout_ns: None,
                    },
                );
                let item = ask(
                    &o,
                    2,
                    Request::QueueGet {
                        name: "q",
                        timeout_ns: Some(5_000_000_000),
                    },
                );
                (got, item)
            });
            std::thread::sleep(Duration::from_millis(10));
            ask(&o, 1, Request::LockRelease { name: "l" });
            std::thread::sleep(Duration::from_millis(10));
            ask(
                &o,
                1,
                Request::QueuePut {
                    name: "q",
                    item: Bytes(b"x"),
                    maxsize: 1,
                    timeout_ns: None,
                },
            );
            let (got, item) = waiter.join().unwrap();
            assert_eq!(got, "Acquired(true)");
            assert_eq!(item, "Item(Some(Bytes([120])))");
        });
        assert_eq!(
            ask(
                &o,
                1,
                Request::QueueGet {
                    name: "q",
                    timeout_ns: Some(1_000)
                }
            ),
            "Item(None)"
        );
    }
}
