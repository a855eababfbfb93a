//! Native entries: a [`ProcessHost`] whose entries are Rust functions, so
//! native processes can be spawned by entry id on any node (code is never
//! shipped: every node registers the same entries).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ahash::AHashMap;
use wippy_host::registry::EntryId;
use wippy_host::{HostError, ProcessHost, SpawnRequest};
use wippy_process::{Ctx, ExitResult, HostId, NativeHost, Payload, Pid};

/// What a native entry runs: an async block given the process's handle
/// and its arguments.
pub type NativeEntry = Arc<
    dyn Fn(Ctx, Vec<Payload>) -> Pin<Box<dyn Future<Output = ExitResult> + Send>> + Send + Sync,
>;

/// A process host of native entries.
///
/// ```
/// use std::sync::Arc;
/// use wippy_cluster::NativeEntries;
/// use wippy_host::{ProcessHost, SpawnRequest};
/// use wippy_process::{Payload, Runtime};
///
/// let rt = Runtime::new(Default::default()).unwrap();
/// let host = NativeEntries::new(rt.native_host("app:native", 1).unwrap());
/// host.add("app:echo", |cx, args| async move {
///     Ok(args.into_iter().next().unwrap_or(Payload::Nil))
/// });
/// let mut req = SpawnRequest::new("app:echo".parse().unwrap());
/// req.args = vec![Payload::Int(1)];
/// assert!(host.spawn(req).is_ok());
/// ```
pub struct NativeEntries {
    host: NativeHost,
    entries: RwLock<AHashMap<EntryId, NativeEntry>>,
}

impl NativeEntries {
    /// A host of no entries yet, running on `host`.
    pub fn new(host: NativeHost) -> Arc<NativeEntries> {
        Arc::new(NativeEntries {
            host,
            entries: RwLock::new(AHashMap::new()),
        })
    }

    /// Adds (or replaces) the entry `id`.
    ///
    /// # Panics
    ///
    /// When `id` is not an entry id (`ns:name`): entries are written in
    /// code, so that is a programmer's mistake.
    pub fn add<F, Fut>(&self, id: &str, f: F)
    where
        F: Fn(Ctx, Vec<Payload>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ExitResult> + Send + 'static,
    {
        let id: EntryId = id.parse().expect("an entry id is ns:name");
        let entry: NativeEntry = Arc::new(move |cx, args| Box::pin(f(cx, args)));
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, entry);
    }

    /// The native host the entries run on.
    pub fn native(&self) -> &NativeHost {
        &self.host
    }
}

impl ProcessHost for NativeEntries {
    fn id(&self) -> HostId {
        self.host.id()
    }

    fn spawn(&self, req: SpawnRequest) -> Result<Pid, HostError> {
        let entry = self
            .entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&req.entry)
            .cloned()
            .ok_or_else(|| HostError::UnknownEntry(req.entry.to_string()))?;
        let args = req.args;
        Ok(self.host.spawn_async(req.opts, move |cx| entry(cx, args))?)
    }

    fn process_count(&self) -> usize {
        self.host.node().stats().live
    }

    fn shutdown(&self, _grace: Duration) {}
}
