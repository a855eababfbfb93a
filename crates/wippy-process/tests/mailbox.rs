//! A home's mailbox bound (`Home::mailbox_limit`): a message that would
//! take a mailbox past its count or its bytes is refused and the sender
//! told; taking messages makes room again; queued bytes are counted exactly.

use std::sync::Arc;

use wippy_process::{
    Error, Home, HostId, MailboxLimit, Message, Payload, ProcessCell, Runtime, SpawnOptions,
};

/// Runs nothing: the test reads the mailbox directly.
struct Bounded(MailboxLimit);

impl Home for Bounded {
    fn wake(&self, _cell: &Arc<ProcessCell>) {}

    fn mailbox_limit(&self) -> MailboxLimit {
        self.0
    }
}

fn bounded(rt: &Runtime, limit: MailboxLimit) -> Arc<ProcessCell> {
    rt.node()
        .spawn_in(
            HostId::intern("mailbox:bounded"),
            Arc::new(Bounded(limit)),
            0,
            SpawnOptions::default(),
        )
        .expect("spawn")
}

#[test]
fn a_mailbox_at_its_message_bound_refuses_and_the_sender_is_told() {
    let rt = Runtime::new(Default::default()).expect("runtime");
    let cell = bounded(
        &rt,
        MailboxLimit {
            messages: 3,
            bytes: usize::MAX,
        },
    );
    let node = rt.node();
    for i in 0..3 {
        node.send(None, cell.pid(), "m", Payload::Int(i))
            .expect("room");
    }
    let refused = node
        .send(None, cell.pid(), "m", Payload::Int(3))
        .unwrap_err();
    assert!(
        matches!(refused, Error::MailboxFull { to, messages: 3 } if to == cell.pid()),
        "{refused:?}"
    );
    assert_eq!(
        refused.to_string(),
        format!(
            "mailbox of {} is full (3 messages queued, its host's max_mailbox)",
            cell.pid()
        )
    );
    // The same through a held cell.
    assert!(node.send_to(None, &cell, "m", Payload::Int(3)).is_err());
    assert_eq!(cell.mailbox_len(), 3);
    assert_eq!(cell.try_recv().unwrap().payload, Payload::Int(0));
    node.send(None, cell.pid(), "m", Payload::Int(4))
        .expect("room again");
    let got: Vec<Payload> = std::iter::from_fn(|| cell.try_recv())
        .map(|m| m.payload)
        .collect();
    assert_eq!(got, [1, 2, 4].map(Payload::Int), "nothing refused arrived");
    assert_eq!(
        node.stats().dead_letters,
        0,
        "a refusal is not a dead letter"
    );
    rt.shutdown();
}

#[test]
fn queued_bytes_count_against_the_memory_limit() {
    let rt = Runtime::new(Default::default()).expect("runtime");
    let cell = bounded(
        &rt,
        MailboxLimit {
            messages: usize::MAX,
            bytes: 10_000,
        },
    );
    let node = rt.node();
    let big = || Payload::Bytes(vec![7; 4_000]);
    let size = Message::new(None, "m", big()).byte_size();
    node.send(None, cell.pid(), "m", big()).expect("room");
    node.send(None, cell.pid(), "m", big()).expect("room");
    assert_eq!(cell.queued_bytes(), 2 * size);
    match node.send(None, cell.pid(), "m", big()) {
        Err(Error::MailboxOverMemoryLimit {
            size: s,
            queued,
            limit: 10_000,
            ..
        }) => assert_eq!((s, queued), (size, 2 * size)),
        other => panic!("expected MailboxOverMemoryLimit, got {other:?}"),
    }
    // A message bigger than the whole limit never fits, even when empty.
    cell.try_recv().unwrap();
    cell.try_recv().unwrap();
    assert_eq!(cell.queued_bytes(), 0);
    assert!(
        node.send(None, cell.pid(), "m", Payload::Bytes(vec![0; 10_000]))
            .is_err()
    );
    node.send(None, cell.pid(), "m", big()).expect("room again");
    assert_eq!(cell.queued_bytes(), size);
    rt.shutdown();
}

#[test]
fn native_processes_have_no_mailbox_bound() {
    let rt = Runtime::new(Default::default()).expect("runtime");
    let host = rt.native_host("mailbox:native", 1).expect("host");
    let pid = host
        .spawn_async(SpawnOptions::default(), |cx| async move {
            cx.sleep(std::time::Duration::from_secs(3600)).await;
            Ok(Payload::Nil)
        })
        .expect("spawn");
    let cell = rt.node().cell(pid).expect("alive");
    assert_eq!(cell.mailbox_limit(), MailboxLimit::UNBOUNDED);
    rt.shutdown();
}
