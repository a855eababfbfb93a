//! The global registry: names every node can look up, in a JetStream KV
//! bucket (`<prefix>_names`, one key per name, history 1), with Wippy's
//! scopes.
//!
//! * [`NameScope::Local`]: the kernel's own names, on this node only.
//! * [`NameScope::Eventual`]: bound here at once (the call answers
//!   without the server), then created in the bucket. If another process
//!   got the name first, the bucket's create is what decides: exactly one
//!   create succeeds, the loser's binding is taken back and its process is
//!   told (a message on [`LOST_TOPIC`]). Works while the server is away.
//! * [`NameScope::Consistent`]: create-if-absent in the bucket; the call
//!   answers when the server has decided, so of processes racing for a
//!   name exactly one wins and the others get [`ClusterError::NameTaken`].
//! * [`NameScope::Strong`]: Consistent, written first as *pending*, then
//!   acknowledged by every live node (each adds the binding to its view,
//!   so a lookup anywhere finds it once the call returns); if one does not
//!   answer by the deadline the key is deleted and the call fails: no name
//!   is left half-registered.
//!
//! Every node keeps a *view* of the bucket (a watch), so a lookup is a
//! local read. A name is freed when its process ends (its node deletes the
//! key, compare-and-delete on the revision it wrote) or its node goes away
//! (the nodes that see it go delete its keys). A node that finds one of
//! its names deleted while its process lives creates it again; after a
//! reconnection it re-asserts every name it holds.

use std::sync::{Arc, Mutex, PoisonError, RwLock};

use ahash::AHashMap;
use async_nats::jetstream::kv::{self, CreateErrorKind, Operation};
use bytes::Bytes;
use futures_util::StreamExt;
use smol_str::SmolStr;
use wippy_process::{NodeId, Payload, Pid};

use crate::error::ClusterError;

/// The topic of the message a process gets when an EVENTUAL name it was
/// given turned out to be another's (payload: `{name = ..., holder = pid}`).
pub const LOST_TOPIC: &str = "registry.lost";

/// How widely and how surely a name is registered (Wippy's
/// `process.registry` scopes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NameScope {
    /// This node only (the kernel's names).
    Local,
    /// Every node, soon; bound here at once.
    Eventual,
    /// Every node; the server decides between racers.
    Consistent,
    /// Consistent, and known to every live node when the call returns.
    Strong,
}

impl NameScope {
    /// The scope of Wippy's constants: `LOCAL = 0`, `EVENTUAL = 1`,
    /// `CONSISTENT = 2`, `STRONG = 3`.
    pub fn from_number(n: i64) -> Option<NameScope> {
        Some(match n {
            0 => NameScope::Local,
            1 => NameScope::Eventual,
            2 => NameScope::Consistent,
            3 => NameScope::Strong,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            NameScope::Local => "local",
            NameScope::Eventual => "eventual",
            NameScope::Consistent => "consistent",
            NameScope::Strong => "strong",
        }
    }
}

/// A bucket key for a name: the name itself when it is a valid key, else
/// `=` and its bytes in hex.
pub(crate) fn key_of(name: &str) -> String {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'));
    if plain {
        return name.to_owned();
    }
    let mut key = String::with_capacity(1 + name.len() * 2);
    key.push('=');
    for b in name.bytes() {
        key.push_str(&format!("{b:02x}"));
    }
    key
}

/// The name a bucket key stands for.
pub(crate) fn name_of(key: &str) -> Option<String> {
    let Some(hex) = key.strip_prefix('=') else {
        return Some(key.to_owned());
    };
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// A bucket value.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Value {
    pub(crate) pid: Pid,
    pub(crate) scope: String,
    /// A STRONG registration not yet acknowledged by every node.
    #[serde(default)]
    pub(crate) pending: bool,
}

impl Value {
    pub(crate) fn new(pid: Pid, scope: NameScope, pending: bool) -> Value {
        Value {
            pid,
            scope: scope.as_str().to_owned(),
            pending,
        }
    }

    pub(crate) fn bytes(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).expect("a name value serialises"))
    }

    pub(crate) fn parse(bytes: &[u8]) -> Option<Value> {
        serde_json::from_slice(bytes).ok()
    }
}

/// A binding this node knows of.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bound {
    pub(crate) pid: Pid,
    /// The bucket revision that wrote it (0: bound here, not yet written).
    pub(crate) revision: u64,
}

/// A name a process of this node holds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mine {
    pub(crate) pid: Pid,
    pub(crate) scope: NameScope,
    pub(crate) revision: Option<u64>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// This node's side of the global registry.
#[derive(Default)]
pub(crate) struct Names {
    /// Committed bindings of every node, as the watch showed them.
    view: RwLock<AHashMap<SmolStr, Bound>>,
    /// Names held by this node's processes.
    mine: Mutex<AHashMap<SmolStr, Mine>>,
}

/// What a change in the bucket asks of this node.
#[derive(Debug, PartialEq)]
pub(crate) enum Change {
    /// Nothing.
    None,
    /// Our name was deleted while its process lives: create it again.
    Reassert(SmolStr),
    /// Our name is another's now: our process lost it.
    Lost {
        name: SmolStr,
        ours: Pid,
        holder: Pid,
    },
}

impl Names {
    pub(crate) fn lookup(&self, name: &str) -> Option<Pid> {
        self.view
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .map(|b| b.pid)
    }

    pub(crate) fn bound(&self, name: &str) -> Option<Bound> {
        self.view
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .copied()
    }

    pub(crate) fn bind(&self, name: &str, bound: Bound) {
        self.view
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.into(), bound);
    }

    /// Removes the binding of `name` if it is still `pid`'s.
    pub(crate) fn unbind(&self, name: &str, pid: Pid) {
        let mut view = self.view.write().unwrap_or_else(PoisonError::into_inner);
        if view.get(name).is_some_and(|b| b.pid == pid) {
            view.remove(name);
        }
    }

    pub(crate) fn mine(&self, name: &str) -> Option<Mine> {
        lock(&self.mine).get(name).copied()
    }

    pub(crate) fn hold(&self, name: &str, mine: Mine) {
        lock(&self.mine).insert(name.into(), mine);
    }

    /// Sets the revision of our name if `pid` still holds it; false if it
    /// does not (it ended or let the name go meanwhile).
    pub(crate) fn written(&self, name: &str, pid: Pid, revision: u64) -> bool {
        match lock(&self.mine).get_mut(name) {
            Some(m) if m.pid == pid => {
                m.revision = Some(revision);
                true
            }
            _ => false,
        }
    }

    /// Lets our name go if `pid` holds it; its revision in the bucket.
    pub(crate) fn let_go(&self, name: &str, pid: Pid) -> Option<Option<u64>> {
        let mut mine = lock(&self.mine);
        if mine.get(name).is_some_and(|m| m.pid == pid) {
            let m = mine.remove(name).expect("checked above");
            drop(mine);
            self.unbind(name, pid);
            return Some(m.revision);
        }
        None
    }

    /// Every name `pid` holds, let go (the process ended).
    pub(crate) fn release(&self, pid: Pid) -> Vec<(SmolStr, Option<u64>)> {
        let mut mine = lock(&self.mine);
        let names: Vec<SmolStr> = mine
            .iter()
            .filter(|(_, m)| m.pid == pid)
            .map(|(n, _)| n.clone())
            .collect();
        let out: Vec<_> = names
            .into_iter()
            .map(|n| {
                let m = mine.remove(&n).expect("listed above");
                (n, m.revision)
            })
            .collect();
        drop(mine);
        for (n, _) in &out {
            self.unbind(n, pid);
        }
        out
    }

    /// Every name held here, for re-asserting.
    pub(crate) fn all_mine(&self) -> Vec<(SmolStr, Mine)> {
        lock(&self.mine)
            .iter()
            .map(|(n, m)| (n.clone(), *m))
            .collect()
    }

    /// Bindings whose process lived on `node` (or, `stale`, on a node for
    /// which it returns true): taken out of the view; their keys and
    /// revisions, to delete from the bucket.
    pub(crate) fn drop_node(&self, gone: impl Fn(NodeId) -> bool) -> Vec<(SmolStr, u64)> {
        let mut view = self.view.write().unwrap_or_else(PoisonError::into_inner);
        let names: Vec<(SmolStr, u64)> = view
            .iter()
            .filter(|(_, b)| gone(b.pid.node()))
            .map(|(n, b)| (n.clone(), b.revision))
            .collect();
        for (n, _) in &names {
            view.remove(n);
        }
        names
    }

    /// Forgets the whole view (before a watch replays the bucket).
    pub(crate) fn clear_view(&self) {
        self.view
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        // Our own names stay bound here while we re-assert them.
        let mine = self.all_mine();
        let mut view = self.view.write().unwrap_or_else(PoisonError::into_inner);
        for (n, m) in mine {
            view.insert(
                n,
                Bound {
                    pid: m.pid,
                    revision: m.revision.unwrap_or(0),
                },
            );
        }
    }

    /// Applies a change the watch saw (once: a revision the view has seen
    /// already changes nothing).
    pub(crate) fn apply(&self, entry: &kv::Entry) -> Change {
        let Some(name) = name_of(&entry.key) else {
            return Change::None;
        };
        let name: SmolStr = name.into();
        match entry.operation {
            Operation::Put => {
                let Some(v) = Value::parse(&entry.value) else {
                    tracing::warn!(key = %entry.key, "global registry: unreadable value");
                    return Change::None;
                };
                if v.pending {
                    return Change::None;
                }
                {
                    let mut view = self.view.write().unwrap_or_else(PoisonError::into_inner);
                    let newer = view.get(&name).is_none_or(|b| b.revision < entry.revision);
                    if !newer {
                        // A replay of what the view has (or older).
                        return Change::None;
                    }
                    view.insert(
                        name.clone(),
                        Bound {
                            pid: v.pid,
                            revision: entry.revision,
                        },
                    );
                }
                match self.mine(&name) {
                    Some(m) if m.pid != v.pid => {
                        lock(&self.mine).remove(&name);
                        Change::Lost {
                            name,
                            ours: m.pid,
                            holder: v.pid,
                        }
                    }
                    _ => Change::None,
                }
            }
            Operation::Delete | Operation::Purge => {
                {
                    let mut view = self.view.write().unwrap_or_else(PoisonError::into_inner);
                    if view.get(&name).is_some_and(|b| b.revision < entry.revision) {
                        view.remove(&name);
                    }
                }
                match self.mine(&name) {
                    Some(m) if m.revision.is_some_and(|r| r < entry.revision) => {
                        Change::Reassert(name)
                    }
                    _ => Change::None,
                }
            }
        }
    }
}

/// The message telling a process it lost an EVENTUAL name.
pub(crate) fn lost_message(name: &str, holder: Pid) -> Payload {
    Payload::map([
        ("name", Payload::from(name)),
        ("holder", Payload::Pid(holder)),
    ])
}

/// Creates our name `name` in the bucket for `value.pid`: Ok(revision),
/// or the holder that has it. A holder on an older incarnation of our own
/// node (we restarted) is gone for sure: its key is deleted and the name
/// taken.
pub(crate) async fn create(
    kv: &kv::Store,
    name: &str,
    value: &Value,
) -> Result<Result<u64, Pid>, ClusterError> {
    let key = key_of(name);
    let me = value.pid.node();
    for _ in 0..3 {
        match kv.create(&key, value.bytes()).await {
            Ok(rev) => return Ok(Ok(rev)),
            Err(e) if e.kind() == CreateErrorKind::AlreadyExists => {}
            Err(e) => return Err(ClusterError::Registry(e.to_string())),
        }
        let entry = match kv.entry(&key).await {
            Ok(Some(entry)) if entry.operation == Operation::Put => entry,
            // Deleted between our create and our read: try again.
            Ok(_) => continue,
            Err(e) => return Err(ClusterError::Registry(e.to_string())),
        };
        let Some(held) = Value::parse(&entry.value) else {
            return Err(ClusterError::Registry(format!(
                "unreadable value of {name:?}"
            )));
        };
        if held.pid == value.pid {
            return Ok(Ok(entry.revision));
        }
        let holder = held.pid.node();
        if holder.name() == me.name() && holder.incarnation() < me.incarnation() {
            delete(kv, name, entry.revision).await;
            continue;
        }
        return Ok(Err(held.pid));
    }
    Err(ClusterError::Registry(format!(
        "{name:?} keeps changing under a create"
    )))
}

/// Deletes `name` from the bucket if it is still at `revision` (someone
/// else's newer binding is left alone).
pub(crate) async fn delete(kv: &kv::Store, name: &str, revision: u64) {
    if let Err(e) = kv
        .delete_expect_revision(key_of(name), Some(revision))
        .await
    {
        tracing::debug!(name, revision, "global registry: delete skipped: {e}");
    }
}

/// Follows the bucket into `names`, calling `on` for each change, until
/// the task is aborted. `loaded` is told when the bucket's current names
/// are in.
///
/// A watch replays the bucket's last values when it starts, but one
/// started right after a server restart (2.9) was seen to replay nothing;
/// so after the watch is up the current names are also read key by key.
/// Both may bring a binding twice: the revision decides (see
/// [`Names::apply`]).
pub(crate) async fn watch(
    kv: kv::Store,
    names: Arc<Names>,
    loaded: tokio::sync::oneshot::Sender<()>,
    on: impl Fn(Change),
) {
    let mut loaded = Some(loaded);
    // A watch fails while the server's JetStream is not back yet (right
    // after a restart) and ends if its consumer is lost: start it again.
    loop {
        let mut watch = match kv.watch_all().await {
            Ok(w) => w,
            Err(e) => {
                tracing::debug!("global registry: cannot watch the bucket yet: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                continue;
            }
        };
        if let Err(e) = snapshot(&kv, &names, &on).await {
            tracing::debug!("global registry: cannot read the bucket yet: {e}");
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            continue;
        }
        if let Some(l) = loaded.take() {
            let _ = l.send(());
        }
        while let Some(entry) = watch.next().await {
            match entry {
                Ok(e) => on(names.apply(&e)),
                Err(e) => tracing::debug!("global registry: watch: {e}"),
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// Reads every name in the bucket now.
async fn snapshot(kv: &kv::Store, names: &Names, on: &impl Fn(Change)) -> Result<(), ClusterError> {
    let keys: Vec<String> = kv
        .keys()
        .await
        .map_err(|e| ClusterError::Registry(e.to_string()))?
        .filter_map(|k| async move { k.ok() })
        .collect()
        .await;
    for key in keys {
        if let Ok(Some(entry)) = kv.entry(&key).await {
            on(names.apply(&entry));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_valid_keys_and_back() {
        for name in [
            "worker",
            "session.manager",
            "a b",
            "ünï",
            ".x",
            "a..b",
            "=x",
        ] {
            let key = key_of(name);
            assert!(
                key.bytes()
                    .all(|b| b.is_ascii_alphanumeric()
                        || matches!(b, b'-' | b'_' | b'.' | b'/' | b'=')),
                "{key}"
            );
            assert_eq!(name_of(&key).as_deref(), Some(name));
        }
        assert_eq!(key_of("worker"), "worker");
    }

    #[test]
    fn scopes_have_wippys_numbers() {
        assert_eq!(NameScope::from_number(0), Some(NameScope::Local));
        assert_eq!(NameScope::from_number(3), Some(NameScope::Strong));
        assert_eq!(NameScope::from_number(4), None);
    }

    #[test]
    fn values_round_trip_through_json() {
        let pid = Pid::new(wippy_process::HostId::intern("names:h"), 3)
            .with_node(NodeId::new("names-a", 1).unwrap());
        let v = Value::new(pid, NameScope::Strong, true);
        assert_eq!(Value::parse(&v.bytes()), Some(v));
    }

    #[test]
    fn releasing_a_process_frees_only_its_names() {
        let h = wippy_process::HostId::intern("names:h");
        let a = Pid::new(h, 1);
        let b = Pid::new(h, 2);
        let names = Names::default();
        for (n, p) in [("x", a), ("y", a), ("z", b)] {
            names.hold(
                n,
                Mine {
                    pid: p,
                    scope: NameScope::Consistent,
                    revision: Some(1),
                },
            );
            names.bind(
                n,
                Bound {
                    pid: p,
                    revision: 1,
                },
            );
        }
        let mut freed: Vec<_> = names.release(a).into_iter().map(|(n, _)| n).collect();
        freed.sort();
        assert_eq!(freed, ["x", "y"]);
        assert_eq!(names.lookup("x"), None);
        assert_eq!(names.lookup("z"), Some(b));
    }
}
