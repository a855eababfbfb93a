//! Remote send: order per sender→receiver pair, the value tree crossing
//! exactly, replies to the sender's pid, and what a pid of a gone node is.

mod support;

use std::sync::mpsc;

use support::{WAIT, nodes, server};
use wippy_process::{Error, HostId, NodeId, Payload, Pid, SpawnOptions};

#[test]
fn messages_from_one_sender_arrive_in_order_with_their_payload_intact() {
    let Some(srv) = server(false) else { return };
    let ns = nodes(&["send-a", "send-b"], &srv.url());
    let (a, b) = (&ns[0], &ns[1]);
    const N: i64 = 20_000;
    let (tx, rx) = mpsc::channel();
    let receiver = b
        .native()
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            let mut next = 0;
            let mut first = None;
            while next < N {
                let m = cx.recv().await;
                if m.topic == "tree" {
                    first = Some((m.from, m.payload));
                    continue;
                }
                assert_eq!(m.payload.as_int(), Some(next), "out of order");
                next += 1;
            }
            tx.send(first).unwrap();
            Ok(Payload::Nil)
        })
        .unwrap();
    let tree = Payload::Map(vec![
        ("s".into(), "text".into()),
        (Payload::Int(7), Payload::Float(1.5)),
        ("bytes".into(), Payload::Bytes(vec![0, 255, 10])),
        (
            "nested".into(),
            Payload::Array(vec![Payload::Nil, true.into(), Payload::Pid(receiver)]),
        ),
    ]);
    let sent = tree.clone();
    let sender = a
        .native()
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            cx.send(receiver, "tree", sent).unwrap();
            for i in 0..N {
                cx.send(receiver, "n", Payload::Int(i)).unwrap();
            }
            Ok(Payload::Nil)
        })
        .unwrap();
    let (from, payload) = rx.recv_timeout(WAIT * 3).unwrap().unwrap();
    assert_eq!(from, Some(sender), "the sender's pid crosses with its node");
    assert_eq!(
        payload, tree,
        "maps keep integer keys, pids stay pids, bytes stay bytes"
    );
}

#[test]
fn a_reply_to_the_senders_pid_finds_it_on_its_node() {
    let Some(srv) = server(false) else { return };
    let ns = nodes(&["reply-a", "reply-b"], &srv.url());
    let (a, b) = (&ns[0], &ns[1]);
    let ponger = b
        .native()
        .spawn_async(SpawnOptions::default(), |cx| async move {
            for _ in 0..100 {
                let m = cx.recv().await;
                cx.send(m.from.unwrap(), "pong", m.payload).unwrap();
            }
            Ok(Payload::Nil)
        })
        .unwrap();
    let (tx, rx) = mpsc::channel();
    a.native()
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            for i in 0..100 {
                cx.send(ponger, "ping", Payload::Int(i)).unwrap();
                let m = cx.recv().await;
                assert_eq!(m.payload, Payload::Int(i));
                assert_eq!(m.from, Some(ponger));
            }
            tx.send(()).unwrap();
            Ok(Payload::Nil)
        })
        .unwrap();
    rx.recv_timeout(WAIT).unwrap();
}

#[test]
fn a_pid_of_a_node_not_in_the_cluster_is_node_not_found() {
    let Some(srv) = server(false) else { return };
    let ns = nodes(&["nf-a", "nf-b"], &srv.url());
    let ghost = NodeId::new("nf-ghost", 1).unwrap();
    let pid = Pid::new(HostId::intern("app:native"), 1).with_node(ghost);
    match ns[0].node().send(None, pid, "t", Payload::Nil) {
        Err(Error::NodeNotFound(n)) => assert_eq!(n, ghost),
        other => panic!("expected node not found, got {other:?}"),
    }
}

#[test]
fn a_message_too_large_for_the_server_is_refused_at_once_and_the_cluster_is_found_from_its_node() {
    let Some(srv) = server(false) else { return };
    let ns = nodes(&["big-a", "big-b"], &srv.url());
    let found = wippy_cluster::Cluster::of(ns[0].node()).expect("a node of a cluster");
    assert_eq!(found.node_id(), ns[0].cluster.node_id());
    let (tx, rx) = mpsc::channel();
    let to = ns[1]
        .native()
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            tx.send(cx.recv().await.payload).unwrap();
            Ok(Payload::Nil)
        })
        .unwrap();
    let huge = Payload::Bytes(vec![7; 2 << 20]);
    match ns[0].node().send(None, to, "t", huge) {
        Err(Error::MessageTooLarge { size, max }) => assert!(size > max),
        other => panic!("expected too large, got {other:?}"),
    }
    // The stream is not disturbed: the next message arrives.
    ns[0].node().send(None, to, "t", Payload::Int(1)).unwrap();
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), Payload::Int(1));
}
