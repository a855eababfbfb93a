//! Node identities: which runtime of a cluster a pid belongs to.
//!
//! A node is a name (`--node NAME`) plus an *incarnation* chosen when the
//! runtime starts, so a node restarted under the same name is another node:
//! pids of the old one are never delivered to processes of the new one.
//! Written `name.incarnation` (the incarnation in base 36), e.g.
//! `worker-1.mfx2k3ab`, which is the node part of a pid's text form
//! `{worker-1.mfx2k3ab@app:workers|0x1f}`.
//!
//! Identities are interned process-wide, like host names, so a [`NodeId`]
//! is a `u32` and a pid stays 16 bytes. [`NodeId::LOCAL`] (index 0) is the
//! node of a runtime that is in no cluster, and the node of a pid written
//! without one (`{host|0x1f}`), which means "this node".

use std::fmt;
use std::sync::{OnceLock, RwLock};

use ahash::AHashMap;

/// The interned identity (name and incarnation) of a node.
///
/// ```
/// use wippy_process::NodeId;
/// let a = NodeId::new("worker-1", 42).unwrap();
/// assert_eq!(a, NodeId::new("worker-1", 42).unwrap());
/// assert_ne!(a, NodeId::new("worker-1", 43).unwrap());
/// assert_eq!(a.name(), "worker-1");
/// assert_eq!(a.incarnation(), 42);
/// assert_eq!(a.to_string(), "worker-1.16");
/// assert_eq!("worker-1.16".parse::<NodeId>().unwrap(), a);
/// assert!(NodeId::LOCAL.is_local());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(u32);

/// Why a node name or identity is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid node {text:?}: a node name is 1 to 64 letters, digits, '-' or '_', and an identity is name.incarnation (base 36, not zero)"
)]
pub struct InvalidNode {
    /// The rejected text.
    pub text: String,
}

struct Interner {
    /// Index 0 is [`NodeId::LOCAL`]: no name, incarnation 0.
    nodes: Vec<(&'static str, u64, &'static str)>,
    ids: AHashMap<(&'static str, u64), u32>,
}

fn interner() -> &'static RwLock<Interner> {
    static INTERNER: OnceLock<RwLock<Interner>> = OnceLock::new();
    INTERNER.get_or_init(|| {
        RwLock::new(Interner {
            nodes: vec![("", 0, "local")],
            ids: AHashMap::new(),
        })
    })
}

/// Whether `name` may name a node: it is used as a NATS subject token, so
/// no dots, wildcards or spaces.
pub(crate) fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn base36(mut n: u64) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.reverse();
    String::from_utf8(digits).expect("base-36 digits are ASCII")
}

impl NodeId {
    /// The node of a runtime in no cluster, and "this node" in pids written
    /// without a node.
    pub const LOCAL: NodeId = NodeId(0);

    /// Interns the identity `name` + `incarnation`; the same pair always
    /// gives the same id. The incarnation must not be zero.
    pub fn new(name: &str, incarnation: u64) -> Result<NodeId, InvalidNode> {
        if !valid_name(name) || incarnation == 0 {
            return Err(InvalidNode {
                text: format!("{name}.{}", base36(incarnation)),
            });
        }
        if let Some(&id) = interner()
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .ids
            .get(&(name, incarnation))
        {
            return Ok(NodeId(id));
        }
        let mut table = interner().write().unwrap_or_else(|e| e.into_inner());
        if let Some(&id) = table.ids.get(&(name, incarnation)) {
            return Ok(NodeId(id));
        }
        let id = u32::try_from(table.nodes.len()).expect("fewer than 2^32 node identities");
        let name: &'static str = Box::leak(name.into());
        let text: &'static str = Box::leak(format!("{name}.{}", base36(incarnation)).into());
        table.nodes.push((name, incarnation, text));
        table.ids.insert((name, incarnation), id);
        Ok(NodeId(id))
    }

    /// A fresh identity for a node named `name` starting now: its
    /// incarnation is the wall clock in milliseconds, so a node restarted
    /// under the same name gets a greater one.
    pub fn starting(name: &str) -> Result<NodeId, InvalidNode> {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_millis() as u64);
        NodeId::new(name, ms.max(1))
    }

    fn entry(self) -> (&'static str, u64, &'static str) {
        interner().read().unwrap_or_else(|e| e.into_inner()).nodes[self.0 as usize]
    }

    /// The node's name (empty for [`NodeId::LOCAL`]).
    pub fn name(self) -> &'static str {
        self.entry().0
    }

    /// The node's incarnation (0 for [`NodeId::LOCAL`]).
    pub fn incarnation(self) -> u64 {
        self.entry().1
    }

    /// Whether this is [`NodeId::LOCAL`].
    pub fn is_local(self) -> bool {
        self == NodeId::LOCAL
    }

    /// The raw index (stable for the life of the OS process).
    pub fn index(self) -> u32 {
        self.0
    }

    /// Calls `f` with the text form (`name.incarnation`) from a per-thread
    /// copy of the interner's texts (no lock after a thread's first use).
    pub fn with_text<R>(self, f: impl FnOnce(&str) -> R) -> R {
        thread_local! {
            static TEXTS: std::cell::RefCell<Vec<Option<&'static str>>> =
                const { std::cell::RefCell::new(Vec::new()) };
        }
        let ix = self.0 as usize;
        TEXTS.with(|texts| {
            let mut texts = texts.borrow_mut();
            if texts.len() <= ix {
                texts.resize(ix + 1, None);
            }
            let text = *texts[ix].get_or_insert_with(|| self.entry().2);
            drop(texts);
            f(text)
        })
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_text(|t| f.write_str(t))
    }
}

impl std::str::FromStr for NodeId {
    type Err = InvalidNode;

    /// Parses `name.incarnation` (base-36 incarnation).
    fn from_str(text: &str) -> Result<NodeId, InvalidNode> {
        let err = || InvalidNode {
            text: text.to_owned(),
        };
        let (name, inc) = text.rsplit_once('.').ok_or_else(err)?;
        if inc.is_empty() || inc.len() > 13 || !inc.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(err());
        }
        let inc = u64::from_str_radix(&inc.to_ascii_lowercase(), 36).map_err(|_| err())?;
        NodeId::new(name, inc).map_err(|_| err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_intern_and_round_trip_through_text() {
        let a = NodeId::new("n-1_x", u64::MAX).unwrap();
        assert_eq!(a.to_string().parse::<NodeId>().unwrap(), a);
        assert_eq!(a.name(), "n-1_x");
        assert_eq!(a.incarnation(), u64::MAX);
    }

    #[test]
    fn bad_names_and_identities_are_refused() {
        for name in ["", "a.b", "a b", "a*", &"x".repeat(65)] {
            assert!(NodeId::new(name, 1).is_err(), "{name:?} accepted");
        }
        assert!(NodeId::new("a", 0).is_err());
        for text in ["a", "a.", ".1", "a.0", "a.!", "a.zzzzzzzzzzzzzz"] {
            assert!(text.parse::<NodeId>().is_err(), "{text:?} parsed");
        }
    }

    #[test]
    fn a_restarted_node_is_another_identity() {
        let first = NodeId::starting("restarts").unwrap();
        let later = NodeId::new("restarts", first.incarnation() + 1).unwrap();
        assert_ne!(first, later);
        assert_eq!(first.name(), later.name());
    }
}
