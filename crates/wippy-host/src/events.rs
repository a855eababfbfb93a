//! The app's event bus (`docs/registry.md`): anything may
//! publish an event — a system, a kind, a path and optional data — and
//! every subscriber whose patterns match gets it, in publishing order per
//! publisher.
//!
//! A pattern is `""` or `"*"` (anything), a text ending in `*` (a prefix),
//! or an exact text; a subscription without a kind pattern takes every
//! kind. A subscriber is a sink: a function the publisher calls with the
//! event, which says whether the subscriber still wants events (a process
//! that has ended does not: its subscription is dropped then). The Lua
//! `events` module subscribes a process with a sink that hands the event
//! to the process as an op completion; native code may subscribe with any
//! sink (a channel sender, say).
//!
//! The bus belongs to the [`App`](crate::App) (one per app) and sits here,
//! below the Lua layer, because publishers are not only Lua code (the
//! registry's changes will be events too) and subscribers need not be Lua
//! processes. Security is the caller's: the Lua module checks
//! `events.subscribe` and `events.send` before it calls the bus.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use wippy_host::{BusEvent, EventBus};
//!
//! let bus = EventBus::new();
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let log = seen.clone();
//! bus.subscribe("orders.*", None, move |e: &BusEvent| {
//!     log.lock().unwrap().push(e.path.clone());
//!     true
//! });
//! bus.publish(&BusEvent::new("orders.eu", "created", "/orders/1"));
//! bus.publish(&BusEvent::new("users", "created", "/users/1"));
//! assert_eq!(*seen.lock().unwrap(), ["/orders/1"]);
//! ```

use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use wippy_process::Payload;

/// An event on the bus.
#[derive(Debug, Clone, PartialEq)]
pub struct BusEvent {
    /// The system it belongs to (`registry`, `orders.eu`, ...).
    pub system: String,
    /// What happened (`entry.create`, ...).
    pub kind: String,
    /// What it happened to (an entry id, a resource path).
    pub path: String,
    /// Its data, if any.
    pub data: Option<Payload>,
}

impl BusEvent {
    /// An event without data.
    pub fn new(
        system: impl Into<String>,
        kind: impl Into<String>,
        path: impl Into<String>,
    ) -> Self {
        BusEvent {
            system: system.into(),
            kind: kind.into(),
            path: path.into(),
            data: None,
        }
    }

    /// The event with `data`.
    pub fn with_data(mut self, data: Payload) -> Self {
        self.data = Some(data);
        self
    }

    /// The event as one payload: a map of `system`, `kind`, `path` and,
    /// when there is data, `data`.
    pub fn to_payload(&self) -> Payload {
        let mut pairs = vec![
            (Payload::from("system"), Payload::from(self.system.as_str())),
            (Payload::from("kind"), Payload::from(self.kind.as_str())),
            (Payload::from("path"), Payload::from(self.path.as_str())),
        ];
        if let Some(d) = &self.data {
            pairs.push((Payload::from("data"), d.clone()));
        }
        Payload::Map(pairs)
    }
}

/// Names a subscription, to end it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubscriptionId(u64);

impl SubscriptionId {
    /// The number behind the id (what the Lua module hands out).
    pub fn get(self) -> u64 {
        self.0
    }

    /// The id of number `n`.
    pub fn from_raw(n: u64) -> SubscriptionId {
        SubscriptionId(n)
    }
}

/// A subscriber's sink: called with each event that matches; `false` ends
/// the subscription. It runs on the publisher's thread, inside the bus's
/// read lock: it must be short and must not call the bus itself.
type Sink = Box<dyn Fn(&BusEvent) -> bool + Send + Sync>;

struct Subscription {
    id: SubscriptionId,
    system: Pattern,
    kind: Pattern,
    sink: Sink,
}

/// What a subscription's system or kind must be.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Any,
    Prefix(String),
    Exact(String),
}

impl Pattern {
    fn new(text: &str) -> Pattern {
        match text {
            "" | "*" => Pattern::Any,
            t => match t.strip_suffix('*') {
                Some(prefix) => Pattern::Prefix(prefix.to_owned()),
                None => Pattern::Exact(t.to_owned()),
            },
        }
    }

    fn matches(&self, text: &str) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Prefix(p) => text.starts_with(p.as_str()),
            Pattern::Exact(e) => text == e,
        }
    }
}

/// The bus: subscriptions, and the publishing of events to them.
///
/// Invariant: sinks are called with the read lock held and never take the
/// lock themselves, so publishers run side by side; subscribing and
/// unsubscribing take the write lock.
#[derive(Default)]
pub struct EventBus {
    subscriptions: RwLock<Vec<Subscription>>,
    /// The next subscription's number (numbers are never reused).
    next: AtomicU64,
}

impl EventBus {
    /// A bus with no subscriptions.
    pub fn new() -> EventBus {
        EventBus::default()
    }

    /// Subscribes `sink` to the events whose system matches `system` and
    /// whose kind matches `kind` (`None`: every kind).
    pub fn subscribe(
        &self,
        system: &str,
        kind: Option<&str>,
        sink: impl Fn(&BusEvent) -> bool + Send + Sync + 'static,
    ) -> SubscriptionId {
        // Relaxed: the counter only has to hand out distinct numbers.
        let id = SubscriptionId(self.next.fetch_add(1, Ordering::Relaxed) + 1);
        let sub = Subscription {
            id,
            system: Pattern::new(system),
            kind: kind.map_or(Pattern::Any, Pattern::new),
            sink: Box::new(sink),
        };
        self.write().push(sub);
        id
    }

    /// Ends a subscription; `false` if there was none by that id.
    pub fn unsubscribe(&self, id: SubscriptionId) -> bool {
        let mut subs = self.write();
        let before = subs.len();
        subs.retain(|s| s.id != id);
        subs.len() != before
    }

    /// Hands `event` to every matching subscriber and returns how many
    /// took it. Subscribers whose sink says they are gone are dropped.
    pub fn publish(&self, event: &BusEvent) -> usize {
        let mut delivered = 0;
        let mut gone = Vec::new();
        {
            let subs = self.subscriptions.read().unwrap_or_else(|e| e.into_inner());
            for s in subs.iter() {
                if s.system.matches(&event.system) && s.kind.matches(&event.kind) {
                    if (s.sink)(event) {
                        delivered += 1;
                    } else {
                        gone.push(s.id);
                    }
                }
            }
        }
        if !gone.is_empty() {
            self.write().retain(|s| !gone.contains(&s.id));
        }
        delivered
    }

    /// How many subscriptions there are.
    pub fn len(&self) -> usize {
        self.subscriptions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Subscription>> {
        // A sink that panicked poisoned the lock; the list itself is whole.
        self.subscriptions
            .write()
            .unwrap_or_else(|e| e.into_inner())
    }
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus")
            .field("subscriptions", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    fn recorder(bus: &EventBus, system: &str, kind: Option<&str>) -> Arc<Mutex<Vec<String>>> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        bus.subscribe(system, kind, move |e| {
            log.lock()
                .unwrap()
                .push(format!("{}/{}{}", e.system, e.kind, e.path));
            true
        });
        seen
    }

    #[test]
    fn patterns_match_anything_a_prefix_or_exactly() {
        let bus = EventBus::new();
        let any = recorder(&bus, "*", None);
        let empty = recorder(&bus, "", None);
        let prefix = recorder(&bus, "test.*", None);
        let exact = recorder(&bus, "test.system", Some("created"));
        for (system, kind) in [
            ("test.system", "created"),
            ("test.system", "deleted"),
            ("test.other", "created"),
            ("other", "created"),
        ] {
            bus.publish(&BusEvent::new(system, kind, "/p"));
        }
        assert_eq!(any.lock().unwrap().len(), 4);
        assert_eq!(empty.lock().unwrap().len(), 4);
        assert_eq!(
            *prefix.lock().unwrap(),
            [
                "test.system/created/p",
                "test.system/deleted/p",
                "test.other/created/p"
            ]
        );
        assert_eq!(*exact.lock().unwrap(), ["test.system/created/p"]);
    }

    #[test]
    fn a_gone_subscriber_is_dropped_and_unsubscribe_ends_one() {
        let bus = EventBus::new();
        bus.subscribe("*", None, |_| false);
        let kept = bus.subscribe("*", None, |_| true);
        assert_eq!(bus.len(), 2);
        assert_eq!(bus.publish(&BusEvent::new("s", "k", "/p")), 1);
        assert_eq!(bus.len(), 1);
        assert!(bus.unsubscribe(kept));
        assert!(!bus.unsubscribe(kept));
        assert!(bus.is_empty());
        assert_eq!(bus.publish(&BusEvent::new("s", "k", "/p")), 0);
    }

    #[test]
    fn events_become_one_payload() {
        let e = BusEvent::new("s", "k", "/p").with_data(Payload::Int(1));
        assert_eq!(e.to_payload().get("data"), Some(&Payload::Int(1)));
        assert_eq!(e.to_payload().get("system"), Some(&Payload::from("s")));
        assert_eq!(BusEvent::new("s", "k", "/p").to_payload().get("data"), None);
    }

    #[test]
    fn publishers_on_many_threads_reach_every_subscriber() {
        let bus = Arc::new(EventBus::new());
        let count = Arc::new(AtomicU64::new(0));
        for _ in 0..4 {
            let c = count.clone();
            bus.subscribe("load", None, move |_| {
                c.fetch_add(1, Ordering::Relaxed);
                true
            });
        }
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let bus = bus.clone();
                std::thread::spawn(move || {
                    for _ in 0..250 {
                        bus.publish(&BusEvent::new("load", "tick", "/"));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(count.load(Ordering::Relaxed), 4 * 4 * 250);
    }
}
