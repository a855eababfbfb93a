//! Process identifiers and host ids.
//!
//! A [`Pid`] names one process for the lifetime of the runtime: it holds the
//! node and host the process runs on and a local id that embeds a
//! generation, so a pid of a process that has ended never reaches a later
//! process that reuses its table slot. Its string form is `{host|0x1f3a}`
//! (the host's name, a `|`, the local id in hex) on a runtime in no cluster,
//! and `{node@host|0x1f3a}` on a cluster node (the node's identity, see
//! [`NodeId`]); both parse back with [`str::parse`], and a pid written
//! without a node means "this node".
//!
//! Host names are interned process-wide, like BEAM atoms: the same name always
//! maps to the same [`HostId`], in every runtime of this OS process. The table
//! only grows; hosts are few.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::{OnceLock, RwLock};

use ahash::AHashMap;

use crate::node_id::NodeId;

/// The interned id of a process host (e.g. `app:workers`).
///
/// Held as the interner's index plus one: never zero, so an
/// `Option<Pid>` (a message's sender) is no bigger than a [`Pid`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostId(NonZeroU32);

/// Names are leaked to `&'static str`: they are few, never removed, and so
/// can be read without the lock once a thread has seen them.
struct Interner {
    names: Vec<&'static str>,
    ids: AHashMap<&'static str, u32>,
}

fn interner() -> &'static RwLock<Interner> {
    static INTERNER: OnceLock<RwLock<Interner>> = OnceLock::new();
    INTERNER.get_or_init(|| {
        RwLock::new(Interner {
            names: Vec::new(),
            ids: AHashMap::new(),
        })
    })
}

impl HostId {
    /// Interns `name` and returns its id; the same name always gives the same id.
    ///
    /// ```
    /// use wippy_process::HostId;
    /// let a = HostId::intern("app:workers");
    /// assert_eq!(a, HostId::intern("app:workers"));
    /// assert_eq!(&*a.name(), "app:workers");
    /// ```
    pub fn intern(name: &str) -> HostId {
        if let Some(id) = Self::lookup(name) {
            return id;
        }
        let mut table = interner().write().unwrap_or_else(|e| e.into_inner());
        if let Some(&id) = table.ids.get(name) {
            return HostId::of_index(id);
        }
        let id = u32::try_from(table.names.len()).expect("fewer than 2^32 host names");
        let name: &'static str = Box::leak(name.into());
        table.names.push(name);
        table.ids.insert(name, id);
        HostId::of_index(id)
    }

    /// The id of interner index `ix`.
    fn of_index(ix: u32) -> HostId {
        HostId(NonZeroU32::new(ix.wrapping_add(1)).expect("fewer than 2^32 - 1 host names"))
    }

    /// The id of an already interned name.
    pub fn lookup(name: &str) -> Option<HostId> {
        // A thread sees the same few host names again and again (parsing
        // pid strings): remember the last ones it found, no lock then.
        // Interned names never change, so a remembered id stays right.
        const WAYS: usize = 4;
        thread_local! {
            static RECENT: std::cell::Cell<[Option<(&'static str, u32)>; WAYS]> =
                const { std::cell::Cell::new([None; WAYS]) };
        }
        let recent = RECENT.get();
        if let Some((_, id)) = recent.iter().flatten().find(|(n, _)| *n == name) {
            return Some(HostId::of_index(*id));
        }
        let table = interner().read().unwrap_or_else(|e| e.into_inner());
        let id = *table.ids.get(name)?;
        let leaked = table.names[id as usize];
        drop(table);
        let mut next = [None; WAYS];
        next[0] = Some((leaked, id));
        next[1..].copy_from_slice(&recent[..WAYS - 1]);
        RECENT.set(next);
        Some(HostId::of_index(id))
    }

    /// The host's name.
    pub fn name(self) -> &'static str {
        let table = interner().read().unwrap_or_else(|e| e.into_inner());
        table.names[self.index() as usize]
    }

    /// Calls `f` with the host's name, from a per-thread copy of the
    /// interner's names (no lock after a thread's first use of a host).
    pub fn with_name<R>(self, f: impl FnOnce(&str) -> R) -> R {
        thread_local! {
            static NAMES: std::cell::RefCell<Vec<Option<&'static str>>> =
                const { std::cell::RefCell::new(Vec::new()) };
        }
        let ix = self.index() as usize;
        NAMES.with(|names| {
            let mut names = names.borrow_mut();
            if names.len() <= ix {
                names.resize(ix + 1, None);
            }
            let name = *names[ix].get_or_insert_with(|| self.name());
            drop(names);
            f(name)
        })
    }

    /// The raw index (stable for the life of the OS process).
    pub fn index(self) -> u32 {
        self.0.get() - 1
    }
}

impl fmt::Display for HostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_name(|n| f.write_str(n))
    }
}

/// A process id: cheap to copy, compared by value, generation-checked.
///
/// ```
/// use wippy_process::{HostId, Pid};
/// let pid = Pid::new(HostId::intern("app:workers"), 0x1f3a);
/// let text = pid.to_string();
/// assert_eq!(text, "{app:workers|0x1f3a}");
/// assert_eq!(text.parse::<Pid>().unwrap(), pid);
/// ```
///
/// A pid of another node carries that node's identity:
///
/// ```
/// use wippy_process::{HostId, NodeId, Pid};
/// let node = NodeId::new("b", 7).unwrap();
/// let pid = Pid::new(HostId::intern("app:workers"), 0x1f).with_node(node);
/// assert_eq!(pid.to_string(), "{b.7@app:workers|0x1f}");
/// assert_eq!(pid.to_string().parse::<Pid>().unwrap(), pid);
/// assert_eq!(pid.node(), node);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid {
    host: HostId,
    // In the padding `host` leaves before `local`: a pid stays 16 bytes.
    node: NodeId,
    local: u64,
}

impl Pid {
    /// A pid from its parts, on [`NodeId::LOCAL`]. `local` is the process
    /// table key (slot and generation).
    pub fn new(host: HostId, local: u64) -> Pid {
        Pid {
            host,
            node: NodeId::LOCAL,
            local,
        }
    }

    /// This pid on `node`.
    pub fn with_node(self, node: NodeId) -> Pid {
        Pid { node, ..self }
    }

    /// The node the process runs on ([`NodeId::LOCAL`]: this node, for a
    /// pid written without one or made by a runtime in no cluster).
    pub fn node(self) -> NodeId {
        self.node
    }

    /// The host the process runs on.
    pub fn host(self) -> HostId {
        self.host
    }

    /// The runtime-unique local id (process table key including its generation).
    pub fn local(self) -> u64 {
        self.local
    }
}

impl Pid {
    /// Appends the string form (`{host|0x1f3a}`) to `out`: what `Display`
    /// writes, without the formatting machinery (pids are formatted for every
    /// message a Lua process receives).
    ///
    /// ```
    /// use wippy_process::{HostId, Pid};
    /// let mut s = String::from("from ");
    /// Pid::new(HostId::intern("app:w"), 0x2a).write_to(&mut s);
    /// assert_eq!(s, "from {app:w|0x2a}");
    /// ```
    pub fn write_to(self, out: &mut String) {
        out.push('{');
        if !self.node.is_local() {
            self.node.with_text(|t| out.push_str(t));
            out.push('@');
        }
        self.host.with_name(|n| out.push_str(n));
        out.push_str("|0x");
        let mut digits = [0u8; 16];
        let mut n = self.local;
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b"0123456789abcdef"[(n & 0xf) as usize];
            n >>= 4;
            if n == 0 {
                break;
            }
        }
        // The digits are ASCII.
        out.push_str(std::str::from_utf8(&digits[i..]).unwrap_or("0"));
        out.push('}');
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(32);
        self.write_to(&mut s);
        f.write_str(&s)
    }
}

impl fmt::Debug for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a string is not a pid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pid {text:?}: expected {{host|0xID}} or {{node@host|0xID}}")]
pub struct ParsePidError {
    /// The rejected text.
    pub text: String,
}

impl FromStr for Pid {
    type Err = ParsePidError;

    /// Parses `{host|0xID}` and `{node@host|0xID}`. Host names and node
    /// identities are interned if they are new, so a pid naming a host this
    /// runtime has never seen parses, and sending to it is simply a send to
    /// a dead process (or to a node that is not there).
    fn from_str(s: &str) -> Result<Pid, ParsePidError> {
        let err = || ParsePidError { text: s.to_owned() };
        let inner = s
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .ok_or_else(err)?;
        let (place, id) = inner.rsplit_once('|').ok_or_else(err)?;
        let (node, host) = match place.split_once('@') {
            Some((node, host)) => (node.parse::<NodeId>().map_err(|_| err())?, host),
            None => (NodeId::LOCAL, place),
        };
        if host.is_empty() {
            return Err(err());
        }
        let hex = id.strip_prefix("0x").ok_or_else(err)?;
        let local = u64::from_str_radix(hex, 16).map_err(|_| err())?;
        Ok(Pid::new(HostId::intern(host), local).with_node(node))
    }
}

impl serde::Serialize for Pid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Pid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Pid, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_string_round_trips() {
        let pid = Pid::new(HostId::intern("app.x:host"), u64::MAX);
        assert_eq!(pid.to_string().parse::<Pid>().unwrap(), pid);
    }

    #[test]
    fn malformed_pids_are_rejected() {
        for bad in [
            "",
            "{}",
            "{a|}",
            "{|0x1}",
            "{a|12}",
            "a|0x1",
            "{a|0xzz}",
            "{@a|0x1}",
            "{n@a|0x1}",
            "{n.1@|0x1}",
            "{n.x.1@a|0x1}",
        ] {
            assert!(bad.parse::<Pid>().is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn pids_of_other_nodes_round_trip_and_differ_from_local_ones() {
        let host = HostId::intern("app:w");
        let node = NodeId::new("n2", 99).unwrap();
        let local = Pid::new(host, 5);
        let remote = local.with_node(node);
        assert_ne!(local, remote);
        assert_eq!(remote.to_string(), "{n2.2r@app:w|0x5}");
        assert_eq!(remote.to_string().parse::<Pid>().unwrap(), remote);
        assert_eq!("{app:w|0x5}".parse::<Pid>().unwrap().node(), NodeId::LOCAL);
        assert_eq!(std::mem::size_of::<Pid>(), 16);
    }

    #[test]
    fn host_names_intern_to_one_id() {
        let a = HostId::intern("test:intern");
        let b = HostId::intern("test:intern");
        assert_eq!(a, b);
        assert_ne!(a, HostId::intern("test:other"));
    }
}
