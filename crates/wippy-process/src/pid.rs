//! Process identifiers and host ids.
//!
//! A [`Pid`] names one process for the lifetime of the runtime: it holds the
//! host the process runs on and a local id that embeds a generation, so a pid
//! of a process that has ended never reaches a later process that reuses its
//! table slot. Its string form is `{host|0x1f3a}` (the host's name, a `|`, the
//! local id in hex) and parses back with [`str::parse`].
//!
//! Host names are interned process-wide, like BEAM atoms: the same name always
//! maps to the same [`HostId`], in every runtime of this OS process. The table
//! only grows; hosts are few.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, OnceLock, RwLock};

use ahash::AHashMap;

/// The interned id of a process host (e.g. `app:workers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostId(u32);

struct Interner {
    names: Vec<Arc<str>>,
    ids: AHashMap<Arc<str>, u32>,
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
            return HostId(id);
        }
        let id = u32::try_from(table.names.len()).expect("fewer than 2^32 host names");
        let name: Arc<str> = Arc::from(name);
        table.names.push(name.clone());
        table.ids.insert(name, id);
        HostId(id)
    }

    /// The id of an already interned name.
    pub fn lookup(name: &str) -> Option<HostId> {
        let table = interner().read().unwrap_or_else(|e| e.into_inner());
        table.ids.get(name).map(|&id| HostId(id))
    }

    /// The host's name.
    pub fn name(self) -> Arc<str> {
        let table = interner().read().unwrap_or_else(|e| e.into_inner());
        table.names[self.0 as usize].clone()
    }

    /// The raw index (stable for the life of the OS process).
    pub fn index(self) -> u32 {
        self.0
    }
}

impl fmt::Display for HostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
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
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid {
    host: HostId,
    local: u64,
}

impl Pid {
    /// A pid from its parts. `local` is the process table key (slot and generation).
    pub fn new(host: HostId, local: u64) -> Pid {
        Pid { host, local }
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

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}|{:#x}}}", self.host.name(), self.local)
    }
}

impl fmt::Debug for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a string is not a pid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pid {text:?}: expected {{host|0xID}}")]
pub struct ParsePidError {
    /// The rejected text.
    pub text: String,
}

impl FromStr for Pid {
    type Err = ParsePidError;

    /// Parses `{host|0xID}`. The host name is interned if it is new, so a pid
    /// naming a host this runtime has never seen parses, and sending to it is
    /// simply a send to a dead process.
    fn from_str(s: &str) -> Result<Pid, ParsePidError> {
        let err = || ParsePidError { text: s.to_owned() };
        let inner = s
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .ok_or_else(err)?;
        let (host, id) = inner.rsplit_once('|').ok_or_else(err)?;
        if host.is_empty() {
            return Err(err());
        }
        let hex = id.strip_prefix("0x").ok_or_else(err)?;
        let local = u64::from_str_radix(hex, 16).map_err(|_| err())?;
        Ok(Pid::new(HostId::intern(host), local))
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
        for bad in ["", "{}", "{a|}", "{|0x1}", "{a|12}", "a|0x1", "{a|0xzz}"] {
            assert!(bad.parse::<Pid>().is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn host_names_intern_to_one_id() {
        let a = HostId::intern("test:intern");
        let b = HostId::intern("test:intern");
        assert_eq!(a, b);
        assert_ne!(a, HostId::intern("test:other"));
    }
}
