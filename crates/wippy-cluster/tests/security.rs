//! The receiving node decides: a send or spawn its policies or its host's
//! accept_from refuse is audited there and nothing happens.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex, mpsc};

use support::{TestNode, WAIT, config, node_with, registry, server};
use wippy_host::SpawnRequest;
use wippy_process::{Credential, Home, HostId, Payload, Pid, ProcessCell, SpawnOptions};
use wippy_security::{Actor, Principal};

const INDEX: &str = r#"
version: "1.0"
namespace: app
entries:
  - name: send_public
    kind: security.policy
    policy:
      actions: ["process.send"]
      resources: ["app:public"]
      effect: allow
  - name: spawn_echo
    kind: security.policy
    policy:
      actions: ["process.spawn", "process.spawn.host"]
      resources: ["app:echo", "app:native"]
      effect: allow
"#;

/// Captured log lines (the audit events).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn capture() -> Logs {
    let logs = Logs::default();
    let out = logs.clone();
    let _ = tracing_subscriber::fmt()
        .with_writer(move || out.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .try_init();
    logs
}

fn guest(app: &wippy_host::App, policies: &[&str]) -> Principal {
    let scope = app
        .policies()
        .scope(policies.iter().copied(), Vec::<&str>::new())
        .unwrap();
    Principal::new(Actor::new("guest"), Some(scope))
}

/// A home that runs nothing: its processes act as the principal given,
/// and it refuses messages from hosts other than `accept`.
struct Hosted {
    principal: Principal,
    accept: Option<HostId>,
}

impl Home for Hosted {
    fn wake(&self, _: &Arc<ProcessCell>) {}
    fn accepts(&self, from: HostId) -> bool {
        self.accept.is_none_or(|a| a == from)
    }
    fn credentials(&self, _: &Arc<ProcessCell>) -> Option<Credential> {
        Some(Arc::new(self.principal.clone()))
    }
}

fn collector(n: &TestNode, host: &str) -> (Pid, mpsc::Receiver<Payload>) {
    let (tx, rx) = mpsc::channel();
    let h = n.rt.as_ref().unwrap().native_host(host, 1).unwrap();
    let pid = h
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            loop {
                tx.send(cx.recv().await.payload).unwrap();
            }
        })
        .unwrap();
    (pid, rx)
}

#[test]
fn a_remote_send_the_receivers_policies_refuse_is_audited_there_and_not_delivered() {
    let Some(srv) = server(false) else { return };
    let logs = capture();
    let a = node_with("sec-a", config(&srv.url()), registry(INDEX));
    let b = node_with("sec-b", config(&srv.url()), registry(INDEX));
    assert!(a.cluster.await_nodes(&["sec-b"], WAIT));
    assert!(b.cluster.await_nodes(&["sec-a"], WAIT));
    let (public, public_rx) = collector(&b, "app:public");
    let (private, private_rx) = collector(&b, "app:private");
    let guest = guest(&a.app, &["app:send_public"]);

    // Through the crate API: the sender does not check, the receiver does.
    a.cluster
        .send_as(&guest, None, private, "t", Payload::Int(1))
        .unwrap();
    a.cluster
        .send_as(&guest, None, public, "t", Payload::Int(2))
        .unwrap();
    assert_eq!(public_rx.recv_timeout(WAIT).unwrap(), Payload::Int(2));

    // Through the kernel: a hosted process acts as its home says.
    let home = Arc::new(Hosted {
        principal: guest.clone(),
        accept: None,
    });
    let sender = a
        .node()
        .spawn_in(
            HostId::intern("app:guests"),
            home,
            0,
            SpawnOptions::default(),
        )
        .unwrap();
    a.node()
        .send(Some(sender.pid()), private, "t", Payload::Int(3))
        .unwrap();
    a.node()
        .send(Some(sender.pid()), public, "t", Payload::Int(4))
        .unwrap();
    assert_eq!(public_rx.recv_timeout(WAIT).unwrap(), Payload::Int(4));
    // Both refused messages were sent before the ones that arrived, in the
    // same ordered stream: they will never come.
    assert!(private_rx.try_recv().is_err());
    let text = logs.text();
    let denials = text
        .lines()
        .filter(|l| l.contains("wippy::audit") && l.contains("guest") && l.contains("app:private"))
        .count();
    assert_eq!(denials, 2, "both refusals audited on b:\n{text}");
}

#[test]
fn the_receiving_hosts_accept_from_holds_for_senders_of_other_nodes() {
    let Some(srv) = server(false) else { return };
    let a = node_with("acc-a", config(&srv.url()), registry(INDEX));
    let b = node_with("acc-b", config(&srv.url()), registry(INDEX));
    assert!(a.cluster.await_nodes(&["acc-b"], WAIT));
    let picky = b
        .node()
        .spawn_in(
            HostId::intern("app:picky"),
            Arc::new(Hosted {
                principal: Principal::system(),
                accept: Some(HostId::intern("app:friends")),
            }),
            0,
            SpawnOptions::default(),
        )
        .unwrap();
    let friend =
        a.rt.as_ref()
            .unwrap()
            .native_host("app:friends", 1)
            .unwrap();
    let stranger =
        a.rt.as_ref()
            .unwrap()
            .native_host("app:strangers", 1)
            .unwrap();
    let to = picky.pid();
    let (tx, rx) = mpsc::channel();
    for h in [&stranger, &friend] {
        let tx = tx.clone();
        h.spawn_async(SpawnOptions::default(), move |cx| async move {
            cx.send(to, "hello", Payload::from(cx.pid())).unwrap();
            tx.send(()).unwrap();
            Ok(Payload::Nil)
        })
        .unwrap();
        rx.recv_timeout(WAIT).unwrap();
    }
    let deadline = std::time::Instant::now() + WAIT;
    while picky.mailbox_len() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the friend's message never came"
        );
        std::thread::yield_now();
    }
    let m = picky.try_recv().unwrap();
    assert_eq!(m.from.unwrap().host(), HostId::intern("app:friends"));
    assert!(
        picky.try_recv().is_none(),
        "the stranger's message was refused"
    );
}

#[test]
fn a_remote_spawn_the_target_refuses_starts_nothing() {
    let Some(srv) = server(false) else { return };
    let a = node_with("sps-a", config(&srv.url()), registry(INDEX));
    let b = node_with("sps-b", config(&srv.url()), registry(INDEX));
    assert!(a.cluster.await_nodes(&["sps-b"], WAIT));
    for n in [&a, &b] {
        n.host.add("app:echo", |_, _| async { Ok(Payload::Nil) });
        n.host.add("app:secret", |_, _| async { Ok(Payload::Nil) });
    }
    let spawner = guest(&a.app, &["app:spawn_echo"]);
    let before = b.node().stats().spawned;
    let err = a
        .cluster
        .spawn(
            &spawner,
            "sps-b@app:native",
            SpawnRequest::new("app:secret".parse().unwrap()),
        )
        .wait(WAIT)
        .unwrap()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "spawn on ".to_owned()
            + &b.cluster.node_id().to_string()
            + " failed: not allowed to process.spawn: app:secret"
    );
    assert_eq!(b.node().stats().spawned, before, "nothing started");
    // The child runs as its spawner (the context a spawner passes on).
    let mut req = SpawnRequest::new("app:echo".parse().unwrap());
    req.context = req.context.with_principal(spawner.clone());
    let ok = a
        .cluster
        .spawn(&spawner, "sps-b@app:native", req)
        .wait(WAIT)
        .unwrap();
    assert!(ok.is_ok(), "{ok:?}");
    // A child may not get more than its spawner has.
    let mut req = SpawnRequest::new("app:echo".parse().unwrap());
    req.context = req
        .context
        .with_principal(Principal::new(Actor::new("root"), None));
    let err = a
        .cluster
        .spawn(&spawner, "sps-b@app:native", req)
        .wait(WAIT)
        .unwrap()
        .unwrap_err();
    assert!(err.to_string().contains("security.actor.set"), "{err}");
}

#[test]
fn a_remote_terminate_the_target_node_refuses_leaves_the_process_running() {
    let Some(srv) = server(false) else { return };
    let a = node_with("trm-a", config(&srv.url()), registry(INDEX));
    let b = node_with("trm-b", config(&srv.url()), registry(INDEX));
    assert!(a.cluster.await_nodes(&["trm-b"], WAIT));
    let (target, rx) = collector(&b, "app:public");
    let guest = guest(&a.app, &["app:send_public"]);
    a.cluster.terminate_as(&guest, target).unwrap();
    // The same ordered stream: when this arrives, the terminate was
    // handled (and refused).
    a.cluster
        .send_as(&Principal::system(), None, target, "t", Payload::Int(1))
        .unwrap();
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), Payload::Int(1));
    assert!(b.node().is_alive(target));
    a.cluster
        .terminate_as(&Principal::system(), target)
        .unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while b.node().is_alive(target) {
        assert!(std::time::Instant::now() < deadline, "not terminated");
        std::thread::yield_now();
    }
}
