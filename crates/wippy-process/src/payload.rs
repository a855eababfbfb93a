//! Message payloads: owned value trees that cross process boundaries.
//!
//! A [`Payload`] never holds a reference into a process (no shared memory):
//! sending one moves or copies it into the receiver. Short strings are stored
//! inline (no allocation up to 23 bytes).

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use smol_str::SmolStr;

use crate::exit_error::ExitError;
use crate::pid::Pid;

/// An owned value sent between processes.
///
/// ```
/// use wippy_process::Payload;
/// let p = Payload::map([("n", Payload::Int(3)), ("tag", "x".into())]);
/// assert_eq!(p.get("n"), Some(&Payload::Int(3)));
/// assert_eq!(serde_json::to_string(&p).unwrap(), r#"{"n":3,"tag":"x"}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Payload {
    /// No value.
    #[default]
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer (integral values stay integers).
    Int(i64),
    /// A float.
    Float(f64),
    /// A UTF-8 string.
    Str(SmolStr),
    /// Bytes that are not UTF-8 (a Lua string may hold any bytes).
    Bytes(Vec<u8>),
    /// A sequence.
    Array(Vec<Payload>),
    /// Key/value pairs in insertion order (keys are usually strings).
    Map(Vec<(Payload, Payload)>),
    /// A process id.
    Pid(Pid),
    /// An error value (a Lua error object; an EXIT event's error).
    Error(ExitError),
}

impl Payload {
    /// A map from string keys.
    pub fn map<K: Into<SmolStr>>(pairs: impl IntoIterator<Item = (K, Payload)>) -> Payload {
        Payload::Map(
            pairs
                .into_iter()
                .map(|(k, v)| (Payload::Str(k.into()), v))
                .collect(),
        )
    }

    /// Looks a string key up in a map (linear: maps in messages are small).
    pub fn get(&self, key: &str) -> Option<&Payload> {
        match self {
            Payload::Map(pairs) => pairs.iter().find_map(|(k, v)| match k {
                Payload::Str(s) if s == key => Some(v),
                _ => None,
            }),
            _ => None,
        }
    }

    /// The integer, if this is one (or a float with an integral value).
    pub fn as_int(&self) -> Option<i64> {
        match *self {
            Payload::Int(i) => Some(i),
            Payload::Float(f) if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 => {
                Some(f as i64)
            }
            _ => None,
        }
    }

    /// The string, if this is a UTF-8 string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Payload::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The pid, if this is one.
    pub fn as_pid(&self) -> Option<Pid> {
        match self {
            Payload::Pid(p) => Some(*p),
            _ => None,
        }
    }

    /// Bytes the value takes: its own size plus everything it owns on the
    /// heap (strings past the 23 bytes stored inline, byte strings, the
    /// elements of arrays and maps). An estimate, cheap to take (allocator
    /// overhead and spare capacity are not counted): what a queued message
    /// charges against its receiver's memory limit.
    ///
    /// ```
    /// use wippy_process::Payload;
    /// let word = std::mem::size_of::<Payload>();
    /// assert_eq!(Payload::Int(1).byte_size(), word);
    /// assert_eq!(Payload::Bytes(vec![0; 1000]).byte_size(), word + 1000);
    /// assert_eq!(Payload::Array(vec![Payload::Nil; 3]).byte_size(), 4 * word);
    /// ```
    #[inline]
    pub fn byte_size(&self) -> usize {
        std::mem::size_of::<Payload>() + self.heap_bytes()
    }

    /// The heap part of [`Payload::byte_size`]. A leaf is answered inline;
    /// a container walks its elements out of line ([`Payload::nested_bytes`]):
    /// every message to a byte-bounded mailbox is sized, and most carry a
    /// scalar, a short string or a small table.
    #[inline]
    fn heap_bytes(&self) -> usize {
        match self {
            Payload::Str(s) if s.is_heap_allocated() => s.len(),
            Payload::Bytes(b) => b.len(),
            Payload::Array(_) | Payload::Map(_) | Payload::Error(_) => self.nested_bytes(),
            _ => 0,
        }
    }

    /// [`Payload::heap_bytes`] of a container: its element slots, and what
    /// each element owns. Recursive: payloads are built by conversions that
    /// bound their depth (and dropping one recurses as deep).
    #[inline(never)]
    fn nested_bytes(&self) -> usize {
        const SLOT: usize = std::mem::size_of::<Payload>();
        match self {
            Payload::Array(items) => {
                items.len() * SLOT + items.iter().map(Payload::heap_bytes).sum::<usize>()
            }
            Payload::Map(pairs) => {
                pairs.len() * 2 * SLOT
                    + pairs
                        .iter()
                        .map(|(k, v)| k.heap_bytes() + v.heap_bytes())
                        .sum::<usize>()
            }
            Payload::Error(e) => {
                e.message().len() + e.details_payload().map_or(0, Payload::byte_size)
            }
            // Leaves are answered by `heap_bytes`.
            _ => 0,
        }
    }

    /// A short name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Payload::Nil => "nil",
            Payload::Bool(_) => "boolean",
            Payload::Int(_) => "integer",
            Payload::Float(_) => "float",
            Payload::Str(_) => "string",
            Payload::Bytes(_) => "bytes",
            Payload::Array(_) => "array",
            Payload::Map(_) => "map",
            Payload::Pid(_) => "pid",
            Payload::Error(_) => "error",
        }
    }
}

impl From<bool> for Payload {
    fn from(v: bool) -> Self {
        Payload::Bool(v)
    }
}
impl From<i64> for Payload {
    fn from(v: i64) -> Self {
        Payload::Int(v)
    }
}
impl From<i32> for Payload {
    fn from(v: i32) -> Self {
        Payload::Int(v.into())
    }
}
impl From<f64> for Payload {
    fn from(v: f64) -> Self {
        Payload::Float(v)
    }
}
impl From<&str> for Payload {
    fn from(v: &str) -> Self {
        Payload::Str(v.into())
    }
}
impl From<String> for Payload {
    fn from(v: String) -> Self {
        Payload::Str(v.into())
    }
}
impl From<Pid> for Payload {
    fn from(v: Pid) -> Self {
        Payload::Pid(v)
    }
}
impl From<Vec<Payload>> for Payload {
    fn from(v: Vec<Payload>) -> Self {
        Payload::Array(v)
    }
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Payload::Nil => f.write_str("nil"),
            Payload::Bool(b) => write!(f, "{b}"),
            Payload::Int(i) => write!(f, "{i}"),
            Payload::Float(x) => write!(f, "{x}"),
            Payload::Str(s) => f.write_str(s),
            Payload::Bytes(b) => write!(f, "{}", String::from_utf8_lossy(b)),
            Payload::Pid(p) => write!(f, "{p}"),
            Payload::Error(e) => write!(f, "{e}"),
            other => f.write_str(&serde_json::to_string(other).map_err(|_| fmt::Error)?),
        }
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Payload::Nil => s.serialize_unit(),
            Payload::Bool(b) => s.serialize_bool(*b),
            Payload::Int(i) => s.serialize_i64(*i),
            Payload::Float(x) => s.serialize_f64(*x),
            Payload::Str(v) => s.serialize_str(v),
            Payload::Bytes(b) => s.serialize_bytes(b),
            Payload::Pid(p) => s.collect_str(p),
            // As Wippy's JSON has it: an error object is its text.
            Payload::Error(e) => s.serialize_str(e.message()),
            Payload::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Payload::Map(pairs) => {
                let mut map = s.serialize_map(Some(pairs.len()))?;
                for (k, v) in pairs {
                    match k {
                        // Formats such as JSON need string keys.
                        Payload::Str(key) => map.serialize_entry(key.as_str(), v)?,
                        other => map.serialize_entry(&other.to_string(), v)?,
                    }
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Payload, D::Error> {
        d.deserialize_any(PayloadVisitor)
    }
}

struct PayloadVisitor;

impl<'de> Visitor<'de> for PayloadVisitor {
    type Value = Payload;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a payload value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Payload, E> {
        Ok(Payload::Nil)
    }
    fn visit_none<E: de::Error>(self) -> Result<Payload, E> {
        Ok(Payload::Nil)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Payload, D::Error> {
        Payload::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Payload, E> {
        Ok(Payload::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Payload, E> {
        Ok(Payload::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Payload, E> {
        Ok(i64::try_from(v).map_or(Payload::Float(v as f64), Payload::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Payload, E> {
        Ok(Payload::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Payload, E> {
        Ok(Payload::Str(v.into()))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Payload, E> {
        Ok(Payload::Bytes(v.to_vec()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Payload, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Payload::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Payload, A::Error> {
        let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
        while let Some((k, v)) = map.next_entry::<Payload, Payload>()? {
            pairs.push((k, v));
        }
        Ok(Payload::Map(pairs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_keeps_integers_integral() {
        let p = Payload::map([
            ("i", Payload::Int(1 << 53)),
            ("f", Payload::Float(0.5)),
            (
                "a",
                Payload::Array(vec![Payload::Nil, true.into(), "s".into()]),
            ),
        ]);
        let text = serde_json::to_string(&p).unwrap();
        let back: Payload = serde_json::from_str(&text).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn every_variant_serialises() {
        let pid = Pid::new(crate::pid::HostId::intern("test:payload"), 0x2a);
        let p = Payload::Array(vec![
            Payload::Nil,
            Payload::Bool(true),
            Payload::Int(-3),
            Payload::Float(1.5),
            Payload::Str("s".into()),
            Payload::Bytes(vec![0, 255]),
            Payload::Pid(pid),
            Payload::Map(vec![
                ("k".into(), Payload::Int(1)),
                (Payload::Int(2), Payload::Str("v".into())),
            ]),
        ]);
        let text = serde_json::to_string(&p).unwrap();
        assert_eq!(
            text,
            r#"[null,true,-3,1.5,"s",[0,255],"{test:payload|0x2a}",{"k":1,"2":"v"}]"#
        );
        // JSON has no bytes, pids or non-string keys: those come back as an
        // array, the pid's string form (which parses back) and string keys.
        let back: Payload = serde_json::from_str(&text).unwrap();
        let Payload::Array(items) = back else {
            panic!("not an array: {back:?}")
        };
        assert_eq!(
            items[..5],
            [
                Payload::Nil,
                true.into(),
                Payload::Int(-3),
                Payload::Float(1.5),
                "s".into()
            ]
        );
        assert_eq!(
            items[5],
            Payload::Array(vec![Payload::Int(0), Payload::Int(255)])
        );
        assert_eq!(items[6].as_str().unwrap().parse::<Pid>().unwrap(), pid);
        assert_eq!(items[7].get("2"), Some(&Payload::Str("v".into())));
        // A pid deserialises from its string form where a `Pid` is expected.
        let again: Pid = serde_json::from_str(&serde_json::to_string(&pid).unwrap()).unwrap();
        assert_eq!(again, pid);
    }

    #[test]
    fn integral_floats_convert_to_int() {
        assert_eq!(Payload::Float(3.0).as_int(), Some(3));
        assert_eq!(Payload::Float(3.5).as_int(), None);
    }

    #[test]
    fn byte_size_counts_what_the_tree_owns() {
        let word = std::mem::size_of::<Payload>();
        assert_eq!(Payload::Str("short".into()).byte_size(), word);
        let long = "x".repeat(100);
        assert_eq!(Payload::Str(long.into()).byte_size(), word + 100);
        let map = Payload::map([("k", Payload::Bytes(vec![1; 10]))]);
        assert_eq!(map.byte_size(), word + (word + word + 10));
        let nested = Payload::Array(vec![map.clone(), map.clone()]);
        assert_eq!(nested.byte_size(), word + 2 * map.byte_size());
    }

    #[test]
    fn payload_is_small() {
        assert!(std::mem::size_of::<Payload>() <= 32);
    }
}
