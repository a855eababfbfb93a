//! The records a node sends another, in one ordered stream per pair of
//! nodes (the receiver's subject): messages and every signal about
//! processes (monitors, links, exits, cancels, spawns). One stream per
//! pair is what keeps them in order: a message sent before its sender
//! ended arrives before the EXIT that says so.

use std::time::Duration;

use wippy_process::{ExitError, ExitResult, Payload, Pid, Topic};

use crate::codec::{Asker, CodecError, Decoder, Encoder};

const MESSAGE: u8 = 1;
const MONITOR: u8 = 2;
const DEMONITOR: u8 = 3;
const LINK: u8 = 4;
const UNLINK: u8 = 5;
const EXIT: u8 = 6;
const LINK_EXIT: u8 = 7;
const CANCEL: u8 = 8;
const TERMINATE: u8 = 9;
const DOWN: u8 = 10;
const SPAWN: u8 = 11;
const SPAWNED: u8 = 12;
/// A message of several values (`Message::multi`): a MESSAGE otherwise.
const MESSAGE_MULTI: u8 = 13;

/// A remote spawn as it crosses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SpawnOrder {
    /// The spawner's call id, returned in [`Record::Spawned`].
    pub(crate) call: u64,
    /// The spawning process (the other end of a link or monitor).
    pub(crate) parent: Option<Pid>,
    /// The entry to run.
    pub(crate) entry: String,
    /// The host to run it on.
    pub(crate) host: String,
    /// Its arguments.
    pub(crate) args: Vec<Payload>,
    /// The `ctx` values it starts with.
    pub(crate) values: Vec<(String, Payload)>,
    /// Link it to the parent.
    pub(crate) link: bool,
    /// The parent monitors it.
    pub(crate) monitor: bool,
    /// It starts trapping links.
    pub(crate) trap_links: bool,
}

/// A decoded record. Asker fields index [`Decoder::resolved`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Record {
    /// `from` sent `to` a message.
    Message {
        asker: usize,
        from: Option<Pid>,
        to: Pid,
        topic: Topic,
        payload: Payload,
        /// The payload is an array of several values sent together
        /// ([`wippy_process::Message::multi`]).
        multi: bool,
    },
    /// `watcher` (the sender's) monitors `target` (the receiver's).
    Monitor {
        asker: usize,
        watcher: Pid,
        target: Pid,
    },
    /// `watcher` no longer monitors `target`.
    Demonitor { watcher: Pid, target: Pid },
    /// `from` (the sender's) links to `to` (the receiver's).
    Link { asker: usize, from: Pid, to: Pid },
    /// The link between `from` and `to` is gone.
    Unlink { from: Pid, to: Pid },
    /// `from` (monitored by `to`) ended with `result`.
    Exit {
        from: Pid,
        to: Pid,
        result: ExitResult,
    },
    /// `from` (linked to `to`) ended with `result`.
    LinkExit {
        from: Pid,
        to: Pid,
        result: ExitResult,
    },
    /// Cancel `target` within `within`.
    Cancel {
        asker: usize,
        from: Option<Pid>,
        target: Pid,
        within: Duration,
        /// What the canceller gave as its reason (`""` for none).
        reason: String,
    },
    /// Terminate `target`.
    Terminate { asker: usize, target: Pid },
    /// The sender has taken the receiver for down: every relation between
    /// their processes is gone.
    Down,
    /// Spawn a process here. `child` is the asker the child runs as (the
    /// spawner's own unless it gave another).
    Spawn {
        asker: usize,
        child: usize,
        order: SpawnOrder,
    },
    /// The answer to a [`Record::Spawn`].
    Spawned {
        call: u64,
        result: Result<Pid, String>,
    },
}

fn result(e: &mut Encoder, r: &ExitResult) {
    match r {
        Ok(v) => {
            e.u8(0);
            e.payload(v);
        }
        Err(err) => {
            e.u8(1);
            e.str(err.message());
        }
    }
}

fn read_result(d: &mut Decoder<'_>) -> Result<ExitResult, CodecError> {
    match d.u8("result")? {
        0 => Ok(Ok(d.payload()?)),
        1 => Ok(Err(ExitError::new(d.str("error")?))),
        t => Err(CodecError(format!("result: tag {t}"))),
    }
}

/// Writers of each record kind.
impl Encoder {
    pub(crate) fn message(
        &mut self,
        asker: Asker<'_>,
        from: Option<Pid>,
        to: Pid,
        topic: &Topic,
        payload: &Payload,
        multi: bool,
    ) {
        self.u8(if multi { MESSAGE_MULTI } else { MESSAGE });
        self.asker(asker);
        self.opt_pid(from);
        self.pid(to);
        self.topic(topic);
        self.payload(payload);
        self.records += 1;
    }

    pub(crate) fn monitor(&mut self, asker: Asker<'_>, watcher: Pid, target: Pid) {
        self.u8(MONITOR);
        self.asker(asker);
        self.pid(watcher);
        self.pid(target);
        self.records += 1;
    }

    pub(crate) fn demonitor(&mut self, watcher: Pid, target: Pid) {
        self.u8(DEMONITOR);
        self.pid(watcher);
        self.pid(target);
        self.records += 1;
    }

    pub(crate) fn link(&mut self, asker: Asker<'_>, from: Pid, to: Pid) {
        self.u8(LINK);
        self.asker(asker);
        self.pid(from);
        self.pid(to);
        self.records += 1;
    }

    pub(crate) fn unlink(&mut self, from: Pid, to: Pid) {
        self.u8(UNLINK);
        self.pid(from);
        self.pid(to);
        self.records += 1;
    }

    pub(crate) fn exit(&mut self, from: Pid, to: Pid, r: &ExitResult) {
        self.u8(EXIT);
        self.pid(from);
        self.pid(to);
        result(self, r);
        self.records += 1;
    }

    pub(crate) fn link_exit(&mut self, from: Pid, to: Pid, r: &ExitResult) {
        self.u8(LINK_EXIT);
        self.pid(from);
        self.pid(to);
        result(self, r);
        self.records += 1;
    }

    pub(crate) fn cancel(
        &mut self,
        asker: Asker<'_>,
        from: Option<Pid>,
        target: Pid,
        within: Duration,
        reason: &str,
    ) {
        self.u8(CANCEL);
        self.asker(asker);
        self.opt_pid(from);
        self.pid(target);
        self.varint(within.as_millis().min(u64::MAX.into()) as u64);
        self.str(reason);
        self.records += 1;
    }

    pub(crate) fn terminate(&mut self, asker: Asker<'_>, target: Pid) {
        self.u8(TERMINATE);
        self.asker(asker);
        self.pid(target);
        self.records += 1;
    }

    pub(crate) fn down(&mut self) {
        self.u8(DOWN);
        self.records += 1;
    }

    pub(crate) fn spawn(&mut self, asker: Asker<'_>, child: Asker<'_>, o: &SpawnOrder) {
        self.u8(SPAWN);
        self.asker(asker);
        self.asker(child);
        self.varint(o.call);
        self.opt_pid(o.parent);
        self.str(&o.entry);
        self.str(&o.host);
        self.varint(o.args.len() as u64);
        for a in &o.args {
            self.payload(a);
        }
        self.varint(o.values.len() as u64);
        for (k, v) in &o.values {
            self.str(k);
            self.payload(v);
        }
        self.u8(u8::from(o.link) | u8::from(o.monitor) << 1 | u8::from(o.trap_links) << 2);
        self.records += 1;
    }

    pub(crate) fn spawned(&mut self, call: u64, r: &Result<Pid, String>) {
        self.u8(SPAWNED);
        self.varint(call);
        match r {
            Ok(pid) => {
                self.u8(0);
                self.pid(*pid);
            }
            Err(e) => {
                self.u8(1);
                self.str(e);
            }
        }
        self.records += 1;
    }
}

impl Decoder<'_> {
    /// The next record, or `None` at the end of the batch.
    pub(crate) fn record(&mut self) -> Result<Option<Record>, CodecError> {
        if self.at_end() {
            return Ok(None);
        }
        let r = match self.u8("record")? {
            kind @ (MESSAGE | MESSAGE_MULTI) => Record::Message {
                asker: self.asker()?,
                from: self.opt_pid()?,
                to: self.pid()?,
                topic: self.topic()?,
                payload: self.payload()?,
                multi: kind == MESSAGE_MULTI,
            },
            MONITOR => Record::Monitor {
                asker: self.asker()?,
                watcher: self.pid()?,
                target: self.pid()?,
            },
            DEMONITOR => Record::Demonitor {
                watcher: self.pid()?,
                target: self.pid()?,
            },
            LINK => Record::Link {
                asker: self.asker()?,
                from: self.pid()?,
                to: self.pid()?,
            },
            UNLINK => Record::Unlink {
                from: self.pid()?,
                to: self.pid()?,
            },
            EXIT => Record::Exit {
                from: self.pid()?,
                to: self.pid()?,
                result: read_result(self)?,
            },
            LINK_EXIT => Record::LinkExit {
                from: self.pid()?,
                to: self.pid()?,
                result: read_result(self)?,
            },
            CANCEL => Record::Cancel {
                asker: self.asker()?,
                from: self.opt_pid()?,
                target: self.pid()?,
                within: Duration::from_millis(self.varint("cancel deadline")?),
                reason: self.str("cancel reason")?.to_owned(),
            },
            TERMINATE => Record::Terminate {
                asker: self.asker()?,
                target: self.pid()?,
            },
            DOWN => Record::Down,
            SPAWN => {
                let asker = self.asker()?;
                let child = self.asker()?;
                let call = self.varint("call")?;
                let parent = self.opt_pid()?;
                let entry = self.str("entry")?.to_owned();
                let host = self.str("host")?.to_owned();
                let n = self.varint("arguments")? as usize;
                let mut args = Vec::with_capacity(n.min(64));
                for _ in 0..n {
                    args.push(self.payload()?);
                }
                let n = self.varint("context values")? as usize;
                let mut values = Vec::with_capacity(n.min(64));
                for _ in 0..n {
                    let k = self.str("context key")?.to_owned();
                    values.push((k, self.payload()?));
                }
                let flags = self.u8("spawn flags")?;
                Record::Spawn {
                    asker,
                    child,
                    order: SpawnOrder {
                        call,
                        parent,
                        entry,
                        host,
                        args,
                        values,
                        link: flags & 1 != 0,
                        monitor: flags & 2 != 0,
                        trap_links: flags & 4 != 0,
                    },
                }
            }
            SPAWNED => {
                let call = self.varint("call")?;
                let result = match self.u8("spawn result")? {
                    0 => Ok(self.pid()?),
                    1 => Err(self.str("spawn error")?.to_owned()),
                    t => return Err(CodecError(format!("spawn result: tag {t}"))),
                };
                Record::Spawned { call, result }
            }
            t => return Err(CodecError(format!("record: unknown kind {t}"))),
        };
        Ok(Some(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wippy_process::{HostId, NodeId};
    use wippy_security::Policies;

    #[test]
    fn every_record_kind_round_trips_in_order() {
        let me = NodeId::new("frame-a", 1).unwrap();
        let them = NodeId::new("frame-b", 2).unwrap();
        let h = HostId::intern("frame:h");
        let a = Pid::new(h, 1).with_node(me);
        let b = Pid::new(h, 2).with_node(them);
        let order = SpawnOrder {
            call: 9,
            parent: Some(a),
            entry: "app:worker".into(),
            host: "app:hosts".into(),
            args: vec![Payload::Int(1), "x".into()],
            values: vec![("user".into(), "ann".into())],
            link: true,
            monitor: false,
            trap_links: true,
        };
        let mut e = Encoder::new(me);
        let topic = Topic::new("ping");
        e.message(Asker::Runtime, Some(a), b, &topic, &Payload::Int(5), false);
        e.message(Asker::Runtime, None, b, &topic, &Payload::Nil, true);
        e.monitor(Asker::Runtime, a, b);
        e.demonitor(a, b);
        e.link(Asker::Runtime, a, b);
        e.unlink(a, b);
        e.exit(a, b, &Ok(Payload::Int(3)));
        e.link_exit(a, b, &Err(ExitError::new("boom")));
        e.cancel(
            Asker::Runtime,
            Some(a),
            b,
            Duration::from_millis(1500),
            "bye",
        );
        e.terminate(Asker::Runtime, b);
        e.down();
        e.spawn(Asker::Runtime, Asker::Runtime, &order);
        e.spawned(9, &Ok(b));
        e.spawned(10, &Err("no such entry".into()));
        assert_eq!(e.records, 14);
        let policies = Policies::default();
        let mut d = Decoder::new(&e.buf, &policies).unwrap();
        let mut got = Vec::new();
        while let Some(r) = d.record().unwrap() {
            got.push(r);
        }
        assert_eq!(
            got,
            vec![
                Record::Message {
                    asker: 0,
                    from: Some(a),
                    to: b,
                    topic: topic.clone(),
                    payload: Payload::Int(5),
                    multi: false
                },
                Record::Message {
                    asker: 0,
                    from: None,
                    to: b,
                    topic,
                    payload: Payload::Nil,
                    multi: true
                },
                Record::Monitor {
                    asker: 0,
                    watcher: a,
                    target: b
                },
                Record::Demonitor {
                    watcher: a,
                    target: b
                },
                Record::Link {
                    asker: 0,
                    from: a,
                    to: b
                },
                Record::Unlink { from: a, to: b },
                Record::Exit {
                    from: a,
                    to: b,
                    result: Ok(Payload::Int(3))
                },
                Record::LinkExit {
                    from: a,
                    to: b,
                    result: Err(ExitError::new("boom"))
                },
                Record::Cancel {
                    asker: 0,
                    from: Some(a),
                    target: b,
                    within: Duration::from_millis(1500),
                    reason: "bye".into()
                },
                Record::Terminate {
                    asker: 0,
                    target: b
                },
                Record::Down,
                Record::Spawn {
                    asker: 0,
                    child: 0,
                    order
                },
                Record::Spawned {
                    call: 9,
                    result: Ok(b)
                },
                Record::Spawned {
                    call: 10,
                    result: Err("no such entry".into())
                },
            ]
        );
    }

    #[test]
    fn an_unknown_record_kind_is_an_error() {
        let policies = Policies::default();
        let mut bytes = Encoder::new(NodeId::new("frame-c", 1).unwrap()).buf;
        bytes.push(99);
        let mut d = Decoder::new(&bytes, &policies).unwrap();
        assert_eq!(d.sender, NodeId::new("frame-c", 1).unwrap());
        assert!(
            d.record()
                .unwrap_err()
                .to_string()
                .contains("unknown kind 99")
        );
        assert!(Decoder::new(&[7], &policies).is_err());
    }
}
