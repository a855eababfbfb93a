//! A home that refuses other hosts' messages (`Home::accepts`, the
//! kernel's half of a host's `accept_from`): senders of other hosts get
//! `Error::NotAccepted` and nothing is delivered; the host's own processes
//! and sends from outside any process still arrive.

use std::sync::Arc;

use wippy_process::{Error, Home, HostId, Payload, Pid, ProcessCell, Runtime, SpawnOptions};

/// Parks nothing and runs nothing: the test reads the mailbox directly.
/// Accepts only `allowed` besides its own host.
struct Gate {
    allowed: HostId,
}

impl Home for Gate {
    fn wake(&self, _cell: &Arc<ProcessCell>) {}

    fn accepts(&self, from: HostId) -> bool {
        from == self.allowed
    }
}

#[test]
fn a_refusing_home_gets_no_message_from_a_host_it_does_not_accept() {
    let rt = Runtime::new(Default::default()).expect("runtime");
    let node = rt.node();
    let (system, friend, stranger) = (
        HostId::intern("accept:system"),
        HostId::intern("accept:friend"),
        HostId::intern("accept:stranger"),
    );
    let home = Arc::new(Gate { allowed: friend });
    let cell = node
        .spawn_in(system, home, 0, SpawnOptions::default())
        .expect("spawn");
    let to = cell.pid();

    let from_stranger = Pid::new(stranger, 7);
    match node.send(Some(from_stranger), to, "steal", Payload::Int(1)) {
        Err(Error::NotAccepted { to: t, from: f }) => assert_eq!((t, f), (system, stranger)),
        other => panic!("expected NotAccepted, got {other:?}"),
    }
    let refused = node
        .send_to(Some(from_stranger), &cell, "steal", Payload::Int(2))
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        "host accept:system does not accept messages from host accept:stranger"
    );

    node.send(Some(Pid::new(friend, 1)), to, "a", Payload::Int(3))
        .expect("an accepted host");
    node.send(Some(Pid::new(system, 99)), to, "b", Payload::Int(4))
        .expect("its own host");
    node.send(None, to, "c", Payload::Int(5))
        .expect("from outside any process");
    let topics: Vec<String> = std::iter::from_fn(|| cell.try_recv())
        .map(|m| m.topic.to_string())
        .collect();
    assert_eq!(topics, ["a", "b", "c"], "refused messages were delivered");
    rt.shutdown();
}
