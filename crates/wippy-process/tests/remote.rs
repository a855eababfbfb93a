//! The remote hook: pids of other nodes go to the installed router, with
//! who asks; pids of this node (written with or without the node) stay
//! local; without a router another node's pid is "node not found".

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wippy_process::{
    Credentials, Error, Event, ExitError, HostId, Message, NodeId, Payload, Pid, Remote, Runtime,
    RuntimeConfig, SpawnOptions,
};

const WAIT: Duration = Duration::from_secs(10);

/// What the fake router was asked.
#[derive(Debug, PartialEq)]
enum Call {
    Send { by: String, to: Pid, msg: Message },
    Monitor(Pid, Pid),
    Unmonitor(Pid, Pid),
    Link(Pid, Pid),
    Unlink(Pid, Pid),
    Cancel(Option<Pid>, Pid),
    Terminate(Pid),
}

struct Recorder(Mutex<Sender<Call>>);

fn who(by: &Credentials) -> String {
    match by {
        Credentials::Runtime => "runtime".into(),
        Credentials::Process(c) => c
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| "?".into()),
        Credentials::Unknown(pid) => format!("unknown {pid}"),
    }
}

impl Recorder {
    fn call(&self, c: Call) {
        self.0.lock().unwrap().send(c).unwrap();
    }
}

impl Remote for Recorder {
    fn send(&self, by: Credentials, to: Pid, msg: Message) -> Result<(), Error> {
        self.call(Call::Send {
            by: who(&by),
            to,
            msg,
        });
        Ok(())
    }
    fn monitor(&self, _: Credentials, watcher: Pid, target: Pid) -> Result<(), Error> {
        self.call(Call::Monitor(watcher, target));
        Ok(())
    }
    fn unmonitor(&self, watcher: Pid, target: Pid) -> bool {
        self.call(Call::Unmonitor(watcher, target));
        true
    }
    fn link(&self, _: Credentials, local: Pid, remote: Pid) -> Result<(), Error> {
        self.call(Call::Link(local, remote));
        Ok(())
    }
    fn unlink(&self, local: Pid, remote: Pid) {
        self.call(Call::Unlink(local, remote));
    }
    fn cancel(
        &self,
        _: Credentials,
        from: Option<Pid>,
        target: Pid,
        _: Duration,
        _: &str,
    ) -> Result<(), Error> {
        self.call(Call::Cancel(from, target));
        Ok(())
    }
    fn terminate(&self, _: Credentials, target: Pid) -> Result<(), Error> {
        self.call(Call::Terminate(target));
        Ok(())
    }
}

fn clustered(name: &str) -> (Runtime, NodeId, Receiver<Call>) {
    let me = NodeId::new(name, 1).unwrap();
    let rt = Runtime::new(RuntimeConfig {
        node: me,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let (tx, rx) = mpsc::channel();
    assert!(
        rt.node()
            .set_remote(Arc::new(Recorder(Mutex::new(tx))))
            .is_ok()
    );
    (rt, me, rx)
}

#[test]
fn a_pid_of_another_node_goes_to_the_router_and_local_ones_stay_local() {
    let (rt, me, calls) = clustered("hook-a");
    let host = rt.native_host("test:remote", 1).unwrap();
    let (got_tx, got_rx) = mpsc::channel();
    let local = host
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            for _ in 0..2 {
                got_tx.send(cx.recv().await.payload).unwrap();
            }
            Ok(Payload::Nil)
        })
        .unwrap();
    assert_eq!(local.node(), me, "pids made by a cluster node carry it");
    assert!(local.to_string().starts_with("{hook-a.1@test:remote|"));

    let other = Pid::new(HostId::intern("test:remote"), local.local())
        .with_node(NodeId::new("hook-b", 1).unwrap());
    rt.node()
        .send(Some(local), other, "t", Payload::Int(1))
        .unwrap();
    match calls.recv_timeout(WAIT).unwrap() {
        Call::Send { by, to, msg } => {
            assert_eq!(by, "runtime", "a native process acts as the runtime");
            assert_eq!(to, other);
            assert_eq!(msg.from, Some(local));
            assert_eq!(msg.payload, Payload::Int(1));
        }
        c => panic!("unexpected {c:?}"),
    }

    // This node's pid, with its node and without: both delivered here.
    rt.node().send(None, local, "t", Payload::Int(2)).unwrap();
    let bare: Pid = format!("{{test:remote|{:#x}}}", local.local())
        .parse()
        .unwrap();
    assert_eq!(bare.node(), NodeId::LOCAL);
    rt.node().send(None, bare, "t", Payload::Int(3)).unwrap();
    assert_eq!(got_rx.recv_timeout(WAIT).unwrap(), Payload::Int(2));
    assert_eq!(got_rx.recv_timeout(WAIT).unwrap(), Payload::Int(3));
    assert!(
        calls.try_recv().is_err(),
        "nothing local reached the router"
    );
    rt.shutdown();
}

#[test]
fn monitors_links_cancels_and_terminates_of_remote_pids_go_to_the_router() {
    let (rt, _, calls) = clustered("hook-c");
    let host = rt.native_host("test:remote2", 1).unwrap();
    let local = host
        .spawn_async(SpawnOptions::default(), |cx| async move {
            cx.recv().await;
            Ok(Payload::Nil)
        })
        .unwrap();
    let other =
        Pid::new(HostId::intern("test:remote2"), 9).with_node(NodeId::new("hook-d", 5).unwrap());
    let node = rt.node();
    node.monitor(local, other).unwrap();
    assert!(node.unmonitor(local, other));
    // Either order of the two pids: the local one is the local side.
    node.link(other, local).unwrap();
    node.unlink(local, other);
    node.cancel(Some(local), other, Duration::from_secs(1), "")
        .unwrap();
    node.terminate(other).unwrap();
    let got: Vec<Call> = (0..6).map(|_| calls.recv_timeout(WAIT).unwrap()).collect();
    assert_eq!(
        got,
        [
            Call::Monitor(local, other),
            Call::Unmonitor(local, other),
            Call::Link(local, other),
            Call::Unlink(local, other),
            Call::Cancel(Some(local), other),
            Call::Terminate(other),
        ]
    );
    rt.shutdown();
}

#[test]
fn without_a_router_another_nodes_pid_is_node_not_found() {
    let rt = Runtime::new(Default::default()).unwrap();
    let node = NodeId::new("nowhere", 3).unwrap();
    let pid = Pid::new(HostId::intern("test:x"), 1).with_node(node);
    match rt.node().send(None, pid, "t", Payload::Nil) {
        Err(Error::NodeNotFound(n)) => assert_eq!(n, node),
        other => panic!("expected node not found, got {other:?}"),
    }
    assert!(matches!(
        rt.node().terminate(pid),
        Err(Error::NodeNotFound(_))
    ));
    assert_eq!(rt.node().stats().dead_letters, 0);
    rt.shutdown();
}

#[test]
fn events_and_link_failures_of_remote_processes_reach_local_ones() {
    let (rt, _, _calls) = clustered("hook-e");
    let host = rt.native_host("test:remote3", 1).unwrap();
    let remote =
        Pid::new(HostId::intern("test:remote3"), 77).with_node(NodeId::new("hook-f", 2).unwrap());
    let (tx, rx) = mpsc::channel();
    let trapping = host
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            cx.set_trap_links(true);
            tx.send(()).unwrap();
            let a = cx.next_event().await;
            let b = cx.next_event().await;
            Ok(Payload::Array(vec![
                Payload::Str(format!("{a:?}").into()),
                Payload::Str(format!("{b:?}").into()),
            ]))
        })
        .unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    let watcher = {
        let done_tx = done_tx.clone();
        host.spawn_async(SpawnOptions::default(), move |cx| async move {
            cx.node().monitor(cx.pid(), trapping).unwrap();
            let exit = cx.next_event().await;
            done_tx.send(exit).unwrap();
            Ok(Payload::Nil)
        })
        .unwrap()
    };
    rx.recv_timeout(WAIT).unwrap();
    assert!(rt.node().deliver_event(
        trapping,
        Event::Exit {
            from: remote,
            result: Err(ExitError::new("node disconnected")),
        }
    ));
    assert!(
        rt.node()
            .link_down(trapping, remote, ExitError::new("boom"))
    );
    let Event::Exit { from, result } = done_rx.recv_timeout(WAIT).unwrap() else {
        panic!("not an exit")
    };
    assert_eq!(from, trapping);
    let Ok(Payload::Array(seen)) = result else {
        panic!("trapping process failed: {result:?}")
    };
    assert!(seen[0].as_str().unwrap().contains("node disconnected"));
    assert!(seen[1].as_str().unwrap().starts_with("LinkDown"));

    // Not trapping: the link failure ends it with the partner's error.
    let plain = host
        .spawn_async(SpawnOptions::default().parent(watcher), |cx| async move {
            cx.recv().await;
            Ok(Payload::Nil)
        })
        .unwrap();
    let (w2_tx, w2_rx) = mpsc::channel();
    host.spawn_async(SpawnOptions::default(), move |cx| async move {
        cx.node().monitor(cx.pid(), plain).unwrap();
        w2_tx.send(()).unwrap();
        done_tx.send(cx.next_event().await).unwrap();
        Ok(Payload::Nil)
    })
    .unwrap();
    w2_rx.recv_timeout(WAIT).unwrap();
    assert!(rt.node().link_down(plain, remote, ExitError::new("boom")));
    let Event::Exit { result, .. } = done_rx.recv_timeout(WAIT).unwrap() else {
        panic!("not an exit")
    };
    assert_eq!(
        result.unwrap_err().message(),
        format!("linked process {remote} failed: boom")
    );
    rt.shutdown();
}

/// A home that runs nothing and says its processes act as "ann" (or cannot
/// say).
struct Says(Option<&'static str>);

impl wippy_process::Home for Says {
    fn wake(&self, _: &Arc<wippy_process::ProcessCell>) {}
    fn credentials(
        &self,
        _: &Arc<wippy_process::ProcessCell>,
    ) -> Option<wippy_process::Credential> {
        self.0
            .map(|s| Arc::new(s.to_owned()) as wippy_process::Credential)
    }
}

#[test]
fn a_hosted_sender_acts_as_its_home_says_and_one_without_credentials_is_unknown() {
    let (rt, _, calls) = clustered("hook-g");
    let node = rt.node();
    let host = HostId::intern("test:hosted");
    let ann = node
        .spawn_in(
            host,
            Arc::new(Says(Some("ann"))),
            0,
            SpawnOptions::default(),
        )
        .unwrap();
    let mute = node
        .spawn_in(host, Arc::new(Says(None)), 0, SpawnOptions::default())
        .unwrap();
    let other = Pid::new(host, 1).with_node(NodeId::new("hook-h", 1).unwrap());
    node.send(Some(ann.pid()), other, "t", Payload::Nil)
        .unwrap();
    node.send(Some(mute.pid()), other, "t", Payload::Nil)
        .unwrap();
    node.send(None, other, "t", Payload::Nil).unwrap();
    let by: Vec<String> = (0..3)
        .map(|_| match calls.recv_timeout(WAIT).unwrap() {
            Call::Send { by, .. } => by,
            c => panic!("unexpected {c:?}"),
        })
        .collect();
    assert_eq!(
        by,
        [
            "ann".to_owned(),
            format!("unknown {}", mute.pid()),
            "runtime".to_owned()
        ]
    );
    rt.shutdown();
}
