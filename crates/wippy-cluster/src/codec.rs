//! The compact binary form of what crosses between nodes: varints, strings,
//! pids and payloads, with per-batch tables of the names that repeat.
//!
//! A batch (one NATS message) is a version byte, the writer's node
//! identity and then records (`frame.rs`). Host names, node identities, topics and askers (the
//! principal a record acts for) are written once per batch: the first use
//! writes `0` and the value (the next table index), later uses write the
//! index plus one. So a batch of a thousand pings between two processes
//! names their hosts, nodes and topic once. Integers are LEB128 varints
//! (signed ones zigzagged), floats 8 bytes little-endian.
//!
//! The payload's own serde form is JSON-shaped (pids become strings, map
//! keys strings); this codec keeps the value tree exactly: a pid stays a
//! pid, an integer key stays an integer, bytes stay bytes.
//!
//! A pid of [`NodeId::LOCAL`] is written as the writer's node: "this node"
//! means the sender's node once it has left it.
//!
//! Decoding never trusts the bytes: every length is checked against what
//! is left, nesting is bounded ([`MAX_DEPTH`]), and every mistake is an
//! error naming what was being read, never a panic.

use wippy_process::{ErrorKind, ExitError, HostId, NodeId, Payload, Pid, Topic};
use wippy_security::{Actor, Policies, Principal};

/// The wire format's version, the first byte of every batch.
pub(crate) const VERSION: u8 = 1;

/// Deepest nesting of arrays and maps a payload may have on the wire.
pub(crate) const MAX_DEPTH: usize = 256;

/// What is wrong with a batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed frame: {0}")]
pub struct CodecError(pub(crate) String);

fn bad(what: impl Into<String>) -> CodecError {
    CodecError(what.into())
}

const NIL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const INT: u8 = 3;
const FLOAT: u8 = 4;
const STR: u8 = 5;
const BYTES: u8 = 6;
const ARRAY: u8 = 7;
const MAP: u8 = 8;
const PID: u8 = 9;
/// An error value: message, kind, retryable (0 unset, 1 false, 2 true),
/// then details (a payload, `NIL` for none).
const ERROR: u8 = 10;

/// Who a record acts for, as the writer knows it.
#[derive(Clone, Copy)]
pub(crate) enum Asker<'a> {
    /// The runtime itself (native code, no process): the system actor.
    Runtime,
    /// A process's principal (a batch writes each one once).
    Principal(&'a Principal),
}

/// Writes one batch.
pub(crate) struct Encoder {
    pub(crate) buf: Vec<u8>,
    /// The writer's node: what [`NodeId::LOCAL`] in a pid means.
    me: NodeId,
    hosts: Vec<HostId>,
    nodes: Vec<NodeId>,
    topics: Vec<Topic>,
    /// The principals written so far, as written: a principal is found
    /// again by what it is, never by where it lives.
    askers: Vec<Vec<u8>>,
    /// Records written.
    pub(crate) records: usize,
}

/// Table sizes, to undo a record that was written and then refused.
#[derive(Clone, Copy)]
pub(crate) struct Mark {
    len: usize,
    hosts: usize,
    nodes: usize,
    topics: usize,
    askers: usize,
    records: usize,
}

/// How many table entries a writer searches before it writes a value
/// anew: tables stay small and searches short.
const SEARCH: usize = 32;

impl Encoder {
    /// An empty batch written by node `me`.
    pub(crate) fn new(me: NodeId) -> Encoder {
        let mut e = Encoder {
            buf: Vec::with_capacity(256),
            me,
            hosts: Vec::new(),
            nodes: Vec::new(),
            topics: Vec::new(),
            askers: Vec::new(),
            records: 0,
        };
        e.buf.push(VERSION);
        me.with_text(|t| e.str(t));
        e
    }

    /// Whether no record has been written.
    pub(crate) fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// The position to roll back to with [`Encoder::undo`].
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            len: self.buf.len(),
            hosts: self.hosts.len(),
            nodes: self.nodes.len(),
            topics: self.topics.len(),
            askers: self.askers.len(),
            records: self.records,
        }
    }

    /// Forgets everything written since `mark`.
    pub(crate) fn undo(&mut self, mark: Mark) {
        self.buf.truncate(mark.len);
        self.hosts.truncate(mark.hosts);
        self.nodes.truncate(mark.nodes);
        self.topics.truncate(mark.topics);
        self.askers.truncate(mark.askers);
        self.records = mark.records;
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub(crate) fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn zigzag(&mut self, v: i64) {
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.varint(b.len() as u64);
        self.buf.extend_from_slice(b);
    }

    pub(crate) fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    fn host(&mut self, host: HostId) {
        match self.hosts.iter().take(SEARCH).position(|h| *h == host) {
            Some(ix) => self.varint(ix as u64 + 1),
            None => {
                self.varint(0);
                host.with_name(|n| self.str(n));
                self.hosts.push(host);
            }
        }
    }

    fn node(&mut self, node: NodeId) {
        let node = if node.is_local() { self.me } else { node };
        match self.nodes.iter().take(SEARCH).position(|n| *n == node) {
            Some(ix) => self.varint(ix as u64 + 1),
            None => {
                self.varint(0);
                node.with_text(|t| self.str(t));
                self.nodes.push(node);
            }
        }
    }

    pub(crate) fn topic(&mut self, topic: &Topic) {
        match self.topics.iter().take(SEARCH).position(|t| t == topic) {
            Some(ix) => self.varint(ix as u64 + 1),
            None => {
                self.varint(0);
                self.str(topic);
                self.topics.push(topic.clone());
            }
        }
    }

    pub(crate) fn pid(&mut self, pid: Pid) {
        self.node(pid.node());
        self.host(pid.host());
        self.varint(pid.local());
    }

    pub(crate) fn opt_pid(&mut self, pid: Option<Pid>) {
        match pid {
            None => self.u8(0),
            Some(p) => {
                self.u8(1);
                self.pid(p);
            }
        }
    }

    /// `0` for the runtime, `1` and the principal for a new one, `k + 2`
    /// for the `k`th principal of the batch.
    pub(crate) fn asker(&mut self, asker: Asker<'_>) {
        let principal = match asker {
            Asker::Runtime => return self.varint(0),
            Asker::Principal(p) => p,
        };
        let start = self.buf.len();
        self.principal(principal);
        let written = self.buf.split_off(start);
        if let Some(ix) = self.askers.iter().take(SEARCH).position(|k| *k == written) {
            return self.varint(ix as u64 + 2);
        }
        self.varint(1);
        self.buf.extend_from_slice(&written);
        self.askers.push(written);
    }

    /// A principal: its actor (system flag, id, meta) and its scope (the
    /// ids of its policies: every node has the same app, so the same
    /// policies).
    pub(crate) fn principal(&mut self, principal: &Principal) {
        let actor = principal.actor();
        let scope = principal.scope();
        self.u8(u8::from(actor.is_system()) | (u8::from(scope.is_some()) << 1));
        self.str(actor.id());
        self.varint(actor.meta().len() as u64);
        for (k, v) in actor.meta() {
            self.str(k);
            self.payload(v);
        }
        if let Some(scope) = scope {
            self.varint(scope.policies().len() as u64);
            for p in scope.policies() {
                self.str(p.id());
            }
        }
    }

    pub(crate) fn payload(&mut self, p: &Payload) {
        match p {
            Payload::Nil => self.u8(NIL),
            Payload::Bool(false) => self.u8(FALSE),
            Payload::Bool(true) => self.u8(TRUE),
            Payload::Int(i) => {
                self.u8(INT);
                self.zigzag(*i);
            }
            Payload::Float(f) => {
                self.u8(FLOAT);
                self.buf.extend_from_slice(&f.to_le_bytes());
            }
            Payload::Str(s) => {
                self.u8(STR);
                self.str(s);
            }
            Payload::Bytes(b) => {
                self.u8(BYTES);
                self.bytes(b);
            }
            Payload::Array(items) => {
                self.u8(ARRAY);
                self.varint(items.len() as u64);
                for item in items {
                    self.payload(item);
                }
            }
            Payload::Map(pairs) => {
                self.u8(MAP);
                self.varint(pairs.len() as u64);
                for (k, v) in pairs {
                    self.payload(k);
                    self.payload(v);
                }
            }
            Payload::Pid(pid) => {
                self.u8(PID);
                self.pid(*pid);
            }
            Payload::Error(e) => {
                self.u8(ERROR);
                self.str(e.message());
                self.str(e.kind().as_str());
                self.u8(match e.is_retryable() {
                    None => 0,
                    Some(false) => 1,
                    Some(true) => 2,
                });
                match e.details_payload() {
                    Some(d) => self.payload(d),
                    None => self.u8(NIL),
                }
            }
        }
    }
}

/// Who a decoded record acts for: the system, a principal rebuilt from
/// the wire, or one that cannot be rebuilt here (it names a policy this
/// node's app does not have), which every check refuses.
pub(crate) type Resolved = Result<Principal, String>;

/// Reads one batch.
pub(crate) struct Decoder<'a> {
    /// The node that wrote the batch.
    pub(crate) sender: NodeId,
    buf: &'a [u8],
    pos: usize,
    policies: &'a Policies,
    hosts: Vec<HostId>,
    nodes: Vec<NodeId>,
    topics: Vec<Topic>,
    /// Index 0 is the runtime (the unrestricted system principal).
    askers: Vec<Resolved>,
}

impl<'a> Decoder<'a> {
    /// A decoder of `buf`, whose principals name policies of `policies`.
    pub(crate) fn new(buf: &'a [u8], policies: &'a Policies) -> Result<Decoder<'a>, CodecError> {
        match buf.first() {
            Some(&VERSION) => {}
            Some(v) => return Err(bad(format!("version {v}, expected {VERSION}"))),
            None => return Err(bad("empty batch")),
        }
        let mut d = Decoder {
            sender: NodeId::LOCAL,
            buf,
            pos: 1,
            policies,
            hosts: Vec::new(),
            nodes: Vec::new(),
            topics: Vec::new(),
            askers: vec![Ok(Principal::system())],
        };
        d.sender = d
            .str("sender")?
            .parse::<NodeId>()
            .map_err(|e| bad(format!("sender: {e}")))?;
        Ok(d)
    }

    /// Whether every byte has been read.
    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn u8(&mut self, what: &str) -> Result<u8, CodecError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| bad(format!("{what}: unexpected end")))?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn varint(&mut self, what: &str) -> Result<u64, CodecError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8(what)?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(bad(format!("{what}: varint too long")))
    }

    fn zigzag(&mut self, what: &str) -> Result<i64, CodecError> {
        let v = self.varint(what)?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    /// A length that must fit in what is left (each item takes a byte at
    /// least, so no length can make a huge allocation).
    fn len(&mut self, what: &str) -> Result<usize, CodecError> {
        let n = self.varint(what)?;
        let left = (self.buf.len() - self.pos) as u64;
        if n > left {
            return Err(bad(format!(
                "{what}: length {n} beyond the {left} bytes left"
            )));
        }
        Ok(n as usize)
    }

    pub(crate) fn bytes(&mut self, what: &str) -> Result<&'a [u8], CodecError> {
        let n = self.len(what)?;
        let b = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(b)
    }

    pub(crate) fn str(&mut self, what: &str) -> Result<&'a str, CodecError> {
        std::str::from_utf8(self.bytes(what)?).map_err(|_| bad(format!("{what}: not UTF-8")))
    }

    fn table_ref(&mut self, what: &str, len: usize) -> Result<Option<usize>, CodecError> {
        match self.varint(what)? {
            0 => Ok(None),
            k if (k as usize) <= len => Ok(Some(k as usize - 1)),
            k => Err(bad(format!("{what}: reference {k} to an undefined entry"))),
        }
    }

    fn host(&mut self) -> Result<HostId, CodecError> {
        match self.table_ref("host", self.hosts.len())? {
            Some(ix) => Ok(self.hosts[ix]),
            None => {
                let name = self.str("host name")?;
                if name.is_empty() {
                    return Err(bad("host name: empty"));
                }
                let id = HostId::intern(name);
                self.hosts.push(id);
                Ok(id)
            }
        }
    }

    fn node(&mut self) -> Result<NodeId, CodecError> {
        match self.table_ref("node", self.nodes.len())? {
            Some(ix) => Ok(self.nodes[ix]),
            None => {
                let text = self.str("node")?;
                let id = text.parse::<NodeId>().map_err(|e| bad(e.to_string()))?;
                self.nodes.push(id);
                Ok(id)
            }
        }
    }

    pub(crate) fn topic(&mut self) -> Result<Topic, CodecError> {
        match self.table_ref("topic", self.topics.len())? {
            Some(ix) => Ok(self.topics[ix].clone()),
            None => {
                let t = Topic::new(self.str("topic")?);
                self.topics.push(t.clone());
                Ok(t)
            }
        }
    }

    pub(crate) fn pid(&mut self) -> Result<Pid, CodecError> {
        let node = self.node()?;
        let host = self.host()?;
        let local = self.varint("pid")?;
        Ok(Pid::new(host, local).with_node(node))
    }

    pub(crate) fn opt_pid(&mut self) -> Result<Option<Pid>, CodecError> {
        match self.u8("pid option")? {
            0 => Ok(None),
            1 => self.pid().map(Some),
            b => Err(bad(format!("pid option: tag {b}"))),
        }
    }

    /// An asker reference, as an index into [`Decoder::resolved`].
    pub(crate) fn asker(&mut self) -> Result<usize, CodecError> {
        match self.varint("asker")? {
            0 => Ok(0),
            1 => {
                let resolved = self.principal()?;
                self.askers.push(resolved);
                Ok(self.askers.len() - 1)
            }
            k if (k as usize - 2) < self.askers.len() - 1 => Ok(k as usize - 1),
            k => Err(bad(format!("asker: reference {k} to an undefined entry"))),
        }
    }

    /// The principal an asker index names.
    pub(crate) fn resolved(&self, ix: usize) -> &Resolved {
        &self.askers[ix]
    }

    /// A principal as [`Encoder::principal`] wrote it, rebuilt with this
    /// node's policies.
    pub(crate) fn principal(&mut self) -> Result<Resolved, CodecError> {
        let flags = self.u8("principal")?;
        let id = self.str("actor id")?.to_owned();
        let n = self.len("actor meta")?;
        let mut meta = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let k = self.str("actor meta key")?.to_owned();
            meta.push((k, self.payload()?));
        }
        let mut policy_ids = Vec::new();
        if flags & 2 != 0 {
            let n = self.len("scope")?;
            for _ in 0..n {
                policy_ids.push(self.str("policy id")?);
            }
        }
        let actor = if flags & 1 != 0 {
            Actor::system()
        } else {
            Actor::new(id).with_meta(meta)
        };
        if flags & 2 == 0 {
            return Ok(Ok(Principal::new(actor, None)));
        }
        Ok(self
            .policies
            .scope(policy_ids, Vec::<&str>::new())
            .map(|scope| Principal::new(actor, Some(scope)))
            .map_err(|e| e.to_string()))
    }

    pub(crate) fn payload(&mut self) -> Result<Payload, CodecError> {
        self.payload_at(0)
    }

    fn payload_at(&mut self, depth: usize) -> Result<Payload, CodecError> {
        if depth > MAX_DEPTH {
            return Err(bad(format!("payload nested deeper than {MAX_DEPTH}")));
        }
        Ok(match self.u8("payload")? {
            NIL => Payload::Nil,
            FALSE => Payload::Bool(false),
            TRUE => Payload::Bool(true),
            INT => Payload::Int(self.zigzag("integer")?),
            FLOAT => {
                let b = self
                    .buf
                    .get(self.pos..self.pos + 8)
                    .ok_or_else(|| bad("float: unexpected end"))?;
                self.pos += 8;
                Payload::Float(f64::from_le_bytes(b.try_into().expect("8 bytes")))
            }
            STR => Payload::Str(self.str("string")?.into()),
            BYTES => Payload::Bytes(self.bytes("bytes")?.to_vec()),
            ARRAY => {
                let n = self.len("array")?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.payload_at(depth + 1)?);
                }
                Payload::Array(items)
            }
            MAP => {
                let n = self.len("map")?;
                let mut pairs = Vec::with_capacity(n);
                for _ in 0..n {
                    let k = self.payload_at(depth + 1)?;
                    pairs.push((k, self.payload_at(depth + 1)?));
                }
                Payload::Map(pairs)
            }
            PID => Payload::Pid(self.pid()?),
            ERROR => {
                let message = self.str("error message")?.to_owned();
                let kind = ErrorKind::from(self.str("error kind")?);
                let mut e = ExitError::with_kind(kind, message);
                match self.u8("error retryable")? {
                    0 => {}
                    1 => e = e.retryable(false),
                    2 => e = e.retryable(true),
                    r => return Err(bad(format!("error retryable: {r}"))),
                }
                match self.payload_at(depth + 1)? {
                    Payload::Nil => {}
                    details => e = e.details(details),
                }
                Payload::Error(e)
            }
            t => return Err(bad(format!("payload: unknown tag {t}"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn me() -> NodeId {
        NodeId::new("codec-me", 1).unwrap()
    }

    fn round_trip(p: &Payload) -> Payload {
        let mut e = Encoder::new(me());
        e.payload(p);
        let policies = Policies::default();
        let mut d = Decoder::new(&e.buf, &policies).unwrap();
        let back = d.payload().unwrap();
        assert!(d.at_end());
        back
    }

    fn payload() -> impl Strategy<Value = Payload> {
        let leaf = prop_oneof![
            Just(Payload::Nil),
            any::<bool>().prop_map(Payload::Bool),
            any::<i64>().prop_map(Payload::Int),
            any::<f64>()
                .prop_filter("NaN is not equal to itself", |f| !f.is_nan())
                .prop_map(Payload::Float),
            ".{0,40}".prop_map(|s| Payload::Str(s.into())),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(Payload::Bytes),
            (0u64..1 << 40).prop_map(|l| Payload::Pid(
                Pid::new(HostId::intern("codec:h"), l)
                    .with_node(NodeId::new("codec-o", 9).unwrap())
            )),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Payload::Array),
                proptest::collection::vec((inner.clone(), inner.clone()), 0..8)
                    .prop_map(Payload::Map),
                (".{0,20}", ".{0,12}", any::<Option<bool>>(), inner).prop_map(
                    |(message, kind, retryable, details)| {
                        let mut e = ExitError::with_kind(ErrorKind::from(kind.as_str()), message);
                        if let Some(r) = retryable {
                            e = e.retryable(r);
                        }
                        if details != Payload::Nil {
                            e = e.details(details);
                        }
                        Payload::Error(e)
                    }
                ),
            ]
        })
    }

    proptest! {
        #[test]
        fn every_payload_round_trips_exactly(p in payload()) {
            prop_assert_eq!(round_trip(&p), p);
        }

        #[test]
        fn truncated_or_corrupted_batches_are_errors_never_panics(
            p in payload(),
            cut in any::<prop::sample::Index>(),
            flip in any::<(prop::sample::Index, u8)>(),
        ) {
            let mut e = Encoder::new(me());
            e.payload(&p);
            let policies = Policies::default();
            let n = cut.index(e.buf.len());
            if let Ok(mut d) = Decoder::new(&e.buf[..n], &policies) {
                let _ = d.payload();
            }
            let mut bytes = e.buf.clone();
            let ix = flip.0.index(bytes.len());
            bytes[ix] ^= flip.1;
            if let Ok(mut d) = Decoder::new(&bytes, &policies) {
                let _ = d.payload();
            }
        }
    }

    #[test]
    fn pids_keep_their_node_and_local_ones_become_the_writers() {
        let host = HostId::intern("codec:pids");
        let other = NodeId::new("codec-x", 3).unwrap();
        let theirs = Pid::new(host, 7).with_node(other);
        let bare = Pid::new(host, 8);
        let p = Payload::Array(vec![Payload::Pid(theirs), Payload::Pid(bare)]);
        assert_eq!(
            round_trip(&p),
            Payload::Array(vec![
                Payload::Pid(theirs),
                Payload::Pid(bare.with_node(me()))
            ])
        );
    }

    #[test]
    fn repeated_names_are_written_once_per_batch() {
        let host = HostId::intern("codec:repeat-host-with-a-long-name");
        let pid = Pid::new(host, 1).with_node(me());
        let mut e = Encoder::new(me());
        e.pid(pid);
        let first = e.buf.len();
        e.pid(pid);
        assert!(
            e.buf.len() - first <= 3,
            "a repeated pid costs its local id and two refs"
        );
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut p = Payload::Nil;
        for _ in 0..=MAX_DEPTH + 1 {
            p = Payload::Array(vec![p]);
        }
        let mut e = Encoder::new(me());
        e.payload(&p);
        let policies = Policies::default();
        let mut d = Decoder::new(&e.buf, &policies).unwrap();
        assert!(d.payload().unwrap_err().to_string().contains("deeper"));
    }

    #[test]
    fn principals_cross_with_their_scope_and_unknown_policies_are_refused() {
        use std::sync::Arc;
        use wippy_security::{Effect, Policy, Scope};
        let mut policies = Policies::default();
        policies.insert(
            Policy::new("app:send", ["process.send"], ["*"], Effect::Allow, vec![]),
            &[],
        );
        let known = policies.get("app:send").unwrap().clone();
        let ann = Principal::new(
            Actor::new("ann").with_meta([("role", Payload::from("admin"))]),
            Some(Scope::new([known])),
        );
        let stranger = Principal::new(
            Actor::new("bob"),
            Some(Scope::new([Arc::new(Policy::new(
                "app:elsewhere",
                ["*"],
                ["*"],
                Effect::Allow,
                vec![],
            ))])),
        );
        let mut e = Encoder::new(me());
        e.asker(Asker::Principal(&ann));
        e.asker(Asker::Principal(&ann));
        e.asker(Asker::Principal(&stranger));
        e.asker(Asker::Runtime);
        let mut d = Decoder::new(&e.buf, &policies).unwrap();
        let a = d.asker().unwrap();
        assert_eq!(d.asker().unwrap(), a, "the second use refers to the first");
        let s = d.asker().unwrap();
        assert_eq!(d.asker().unwrap(), 0);
        let ann_back = d.resolved(a).as_ref().unwrap();
        assert_eq!(ann_back.actor().id(), "ann");
        assert_eq!(
            ann_back.actor().meta().get("role"),
            Some(&Payload::from("admin"))
        );
        assert!(ann_back.decide(None, "process.send", "app:x", None));
        assert!(!ann_back.decide(None, "process.spawn", "app:x", None));
        assert!(
            d.resolved(s)
                .as_ref()
                .unwrap_err()
                .contains("app:elsewhere")
        );
        assert!(d.resolved(0).as_ref().unwrap().is_unrestricted());
    }
}
