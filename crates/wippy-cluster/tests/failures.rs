//! Failures: a node killed with SIGKILL, a node restarted under its name, a
//! stopped node during a STRONG registration, the server killed for five
//! seconds, a blackholed connection. Nodes that must die for real run as
//! OS processes of their own: this test binary again, running the ignored
//! `node_process` entry (see `NodeProcess`).

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use support::{TestNode, WAIT, config, node, node_with, server, watch};
use wippy_cluster::{ClusterError, NODE_DOWN, NameScope};
use wippy_host::SpawnRequest;
use wippy_host::registry::Registry;
use wippy_process::{Error, Event, ExitError, Payload, Pid, SpawnOptions};
use wippy_security::Principal;

/// Native entries every node of these tests has.
fn add_entries(n: &TestNode) {
    n.host.add("app:worker", |cx, _| async move {
        loop {
            let m = cx.recv().await;
            match m.topic.as_str() {
                "stop" => return Ok(Payload::Nil),
                "ping" => {
                    let _ = cx.send(m.from.unwrap(), "pong", m.payload);
                }
                _ => {}
            }
        }
    });
}

/// Runs a node as an OS process of its own (this entry, in a child).
#[test]
#[ignore = "a cluster node for the other tests of this file, which run it in a child process"]
fn node_process() {
    let Ok(spec) = std::env::var("WIPPY_TEST_NODE") else {
        return;
    };
    let (url, name) = spec.split_once('|').expect("url|name");
    let n = node(name, url);
    add_entries(&n);
    let held = spawn_worker(&n);
    n.cluster
        .register(&format!("held-{name}"), held, NameScope::Consistent)
        .wait(WAIT)
        .unwrap()
        .unwrap();
    let linked = spawn_worker(&n);
    println!("READY {held} {linked}");
    std::io::stdout().flush().unwrap();
    // Until the parent closes our stdin (or kills us).
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}

fn spawn_worker(n: &TestNode) -> Pid {
    n.app
        .spawn(
            "app:native",
            SpawnRequest::new("app:worker".parse().unwrap()),
        )
        .unwrap()
}

/// A node in a child process.
struct NodeProcess {
    child: Child,
    held: Pid,
    linked: Pid,
}

impl NodeProcess {
    fn start(url: &str, name: &str) -> NodeProcess {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "node_process", "--nocapture"])
            .env("WIPPY_TEST_NODE", format!("{url}|{name}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("READY ") {
                    let _ = tx.send(rest.to_owned());
                }
            }
        });
        // Its stderr, drained as it runs (a full pipe would stall it), for
        // the message when it fails to start.
        let mut err = child.stderr.take().unwrap();
        let (err_tx, err_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut err, &mut text);
            let _ = err_tx.send(text);
        });
        let Ok(ready) = rx.recv_timeout(WAIT * 3) else {
            let _ = child.kill();
            let err = err_rx.recv_timeout(WAIT).unwrap_or_default();
            panic!("the node process {name} did not start: {}", err.trim());
        };
        let (held, linked) = ready.split_once(' ').unwrap();
        NodeProcess {
            child,
            held: held.parse().unwrap(),
            linked: linked.parse().unwrap(),
        }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }

    fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn eventually(what: &str, within: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < within,
            "{what} did not happen within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    start.elapsed()
}

/// Round trip through a worker: it answers, so every record sent to its
/// node before has been applied there.
fn ping(n: &TestNode, worker: Pid) -> Result<(), Error> {
    let (tx, rx) = mpsc::channel();
    n.native()
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            let r = cx.send(worker, "ping", Payload::Int(1));
            let ok = r.is_ok() && cx.recv_timeout(WAIT).await.is_some();
            tx.send(r.map(|_| ok)).unwrap();
            Ok(Payload::Nil)
        })
        .unwrap();
    match rx.recv_timeout(WAIT * 2).unwrap() {
        Ok(true) => Ok(()),
        Ok(false) => panic!("no pong from {worker}"),
        Err(e) => Err(e),
    }
}

#[test]
fn a_killed_node_ends_its_relations_within_two_seconds_frees_its_names_and_work_moves() {
    let Some(srv) = server(true) else { return };
    let url = srv.url();
    let a = node("kill-a", &url);
    let c = node("kill-c", &url);
    add_entries(&a);
    add_entries(&c);
    let mut b = NodeProcess::start(&url, "kill-b");
    assert!(a.cluster.await_nodes(&["kill-b", "kill-c"], WAIT));
    assert!(c.cluster.await_nodes(&["kill-b", "kill-a"], WAIT));
    eventually("a to see b's name", WAIT, || {
        a.cluster.lookup("held-kill-b") == Some(b.held)
    });
    let monitor = watch(&a, b.held, false);
    let link = watch(&a, b.linked, true);
    // A supervisor on a keeps a worker running on b, and elsewhere when b
    // goes away.
    let (restarted_tx, restarted_rx) = mpsc::channel();
    let cluster = a.cluster.clone();
    a.native()
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            for target in ["kill-b@app:native", "kill-c@app:native"] {
                let mut req = SpawnRequest::new("app:worker".parse().unwrap());
                req.opts = SpawnOptions::default().parent(cx.pid()).monitored();
                let child = cluster
                    .spawn(&Principal::system(), target, req)
                    .await
                    .unwrap();
                restarted_tx.send(child).unwrap();
                if target.starts_with("kill-c") {
                    break;
                }
                match cx.next_event().await {
                    Event::Exit { result: Err(e), .. } if e.message() == NODE_DOWN => {}
                    other => panic!("supervisor got {other:?}"),
                }
            }
            Ok(Payload::Nil)
        })
        .unwrap();
    let first = restarted_rx.recv_timeout(WAIT).unwrap();
    assert_eq!(first.node().name(), "kill-b");
    ping(&a, first).unwrap(); // the monitors are in place on b

    let killed = Instant::now();
    b.kill9();
    let (event, at) = monitor.recv_timeout(WAIT).unwrap();
    assert_eq!(
        event,
        Event::Exit {
            from: b.held,
            result: Err(ExitError::new(NODE_DOWN))
        }
    );
    let detected = at - killed;
    assert!(detected < Duration::from_secs(2), "EXIT after {detected:?}");
    let (event, at) = link.recv_timeout(WAIT).unwrap();
    assert_eq!(
        event,
        Event::LinkDown {
            from: b.linked,
            error: ExitError::new(NODE_DOWN)
        }
    );
    assert!(at - killed < Duration::from_secs(2));
    eventually("b's name to be free", Duration::from_secs(2), || {
        a.cluster.lookup("held-kill-b").is_none() && c.cluster.lookup("held-kill-b").is_none()
    });
    let replacement = restarted_rx.recv_timeout(WAIT).unwrap();
    assert_eq!(replacement.node(), c.cluster.node_id(), "restarted on c");
    ping(&a, replacement).unwrap();
    // The name can be had again.
    let p = spawn_worker(&c);
    c.cluster
        .register("held-kill-b", p, NameScope::Consistent)
        .wait(WAIT)
        .unwrap()
        .unwrap();
}

#[test]
fn a_node_restarted_under_its_name_is_another_node_and_the_old_pids_are_dead() {
    let Some(srv) = server(false) else { return };
    let url = srv.url();
    let a = node("again-a", &url);
    add_entries(&a);
    let mut b = NodeProcess::start(&url, "again-b");
    assert!(a.cluster.await_nodes(&["again-b"], WAIT));
    let old = b.held;
    ping(&a, old).unwrap();
    let watcher = watch(&a, old, false);
    b.kill9();
    // Restarted at once, before a's heartbeat timeout: its first
    // heartbeat, of a greater incarnation, says the old one is gone.
    let b2 = NodeProcess::start(&url, "again-b");
    let new = b2.held;
    assert_ne!(new.node(), old.node());
    assert_eq!(new.node().name(), old.node().name());
    let (event, _) = watcher.recv_timeout(WAIT).unwrap();
    assert!(
        matches!(event, Event::Exit { from, result: Err(ref e) } if from == old && e.message() == NODE_DOWN)
    );
    match a.node().send(None, old, "ping", Payload::Nil) {
        Err(Error::NodeNotFound(n)) => assert_eq!(n, old.node()),
        other => panic!("a pid of the old incarnation: {other:?}"),
    }
    ping(&a, new).unwrap();
    eventually("the name to be the new holder's", WAIT, || {
        a.cluster.lookup("held-again-b") == Some(new)
    });
}

#[test]
fn a_strong_registration_with_a_stopped_node_fails_and_leaves_no_name() {
    let Some(srv) = server(false) else { return };
    let url = srv.url();
    // The stopped node must stay live for a and b all along: no timeout
    // while the registration waits for it.
    let patient = || {
        let mut c = config(&url);
        c.node_timeout = Duration::from_secs(10);
        c
    };
    let a = node_with("stop-a", patient(), Registry::new());
    let b = node_with("stop-b", patient(), Registry::new());
    add_entries(&a);
    let c = NodeProcess::start(&url, "stop-c");
    assert!(a.cluster.await_nodes(&["stop-b", "stop-c"], WAIT));
    let p = spawn_worker(&a);
    c.signal("-STOP");
    let started = Instant::now();
    let result = a
        .cluster
        .register("strongly", p, NameScope::Strong)
        .wait(WAIT)
        .unwrap();
    c.signal("-CONT");
    match result {
        Err(ClusterError::NotAcknowledged { missing, .. }) => {
            assert!(missing.contains("stop-c"), "{missing}")
        }
        other => panic!("expected no acknowledgement, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(a.cluster.lookup("strongly"), None);
    // Nothing half-registered: the bucket has no key (another process can
    // take the name), and b, which acknowledged, forgot it.
    let q = spawn_worker(&a);
    a.cluster
        .register("strongly", q, NameScope::Consistent)
        .wait(WAIT)
        .unwrap()
        .unwrap();
    eventually("b to see the second holder", WAIT, || {
        b.cluster.lookup("strongly") == Some(q)
    });
}

#[test]
fn the_server_killed_for_five_seconds_ends_relations_then_the_cluster_recovers() {
    let Some(mut srv) = server(false) else { return };
    let url = srv.url();
    let a = node("outage-a", &url);
    let b = node("outage-b", &url);
    add_entries(&a);
    add_entries(&b);
    assert!(a.cluster.await_nodes(&["outage-b"], WAIT));
    assert!(b.cluster.await_nodes(&["outage-a"], WAIT));
    let on_b = spawn_worker(&b);
    b.cluster
        .register("survivor", on_b, NameScope::Consistent)
        .wait(WAIT)
        .unwrap()
        .unwrap();
    let on_a = spawn_worker(&a);
    a.cluster
        .register("eventual-one", on_a, NameScope::Eventual)
        .wait(WAIT)
        .unwrap()
        .unwrap();
    eventually("a to see b's name", WAIT, || {
        a.cluster.lookup("survivor") == Some(on_b)
    });
    let monitor = watch(&a, on_b, false);
    ping(&a, on_b).unwrap();

    srv.kill();
    let down = Instant::now();
    let (event, at) = monitor.recv_timeout(WAIT).unwrap();
    assert!(matches!(event, Event::Exit { result: Err(ref e), .. } if e.message() == NODE_DOWN));
    assert!(at - down < Duration::from_secs(4), "{:?}", at - down);
    // While the server is away, what needs it fails at once.
    let p = spawn_worker(&a);
    assert!(matches!(
        a.cluster
            .register("during", p, NameScope::Consistent)
            .wait(WAIT)
            .unwrap(),
        Err(ClusterError::Unavailable(_))
    ));
    // EVENTUAL still binds here.
    a.cluster
        .register("during-eventual", p, NameScope::Eventual)
        .wait(WAIT)
        .unwrap()
        .unwrap();
    let left = Duration::from_secs(5).saturating_sub(down.elapsed());
    std::thread::sleep(left); // the outage itself: five seconds without a server
    srv.restart().unwrap();

    assert!(
        a.cluster.await_nodes(&["outage-b"], WAIT * 2),
        "a sees b again"
    );
    assert!(
        b.cluster.await_nodes(&["outage-a"], WAIT * 2),
        "b sees a again"
    );
    ping(&a, on_b).unwrap();
    ping(&b, on_a).unwrap();
    // Names re-asserted, and what was bound during the outage published.
    for (name, pid) in [
        ("survivor", on_b),
        ("eventual-one", on_a),
        ("during-eventual", p),
    ] {
        eventually(&format!("{name} on both nodes"), WAIT * 2, || {
            a.cluster.lookup(name) == Some(pid) && b.cluster.lookup(name) == Some(pid)
        });
    }
    a.cluster
        .register("after", spawn_worker(&a), NameScope::Consistent)
        .wait(WAIT)
        .unwrap()
        .unwrap();
}

/// A TCP proxy that can stop forwarding without closing anything (a
/// blackhole: the server sees no disconnect).
struct Proxy {
    port: u16,
    blackhole: Arc<AtomicBool>,
}

impl Proxy {
    fn start(to: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let blackhole = Arc::new(AtomicBool::new(false));
        let hole = blackhole.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let Ok(server) = TcpStream::connect(("127.0.0.1", to)) else {
                    continue;
                };
                for (mut from, mut into) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let hole = hole.clone();
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16 << 10];
                        loop {
                            let n = match from.read(&mut buf) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => n,
                            };
                            // Blackholed: the bytes are swallowed.
                            if !hole.load(Ordering::SeqCst) && into.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    });
                }
            }
        });
        Proxy { port, blackhole }
    }
}

#[test]
fn a_blackholed_connection_is_found_out_by_heartbeats() {
    let Some(srv) = server(false) else { return };
    let proxy = Proxy::start(srv.port());
    let a = node("hole-a", &srv.url());
    let mut cfg = config(&format!("nats://127.0.0.1:{}", proxy.port));
    cfg.disconnect_events = None;
    let b = node_with("hole-b", cfg, Registry::new());
    add_entries(&b);
    assert!(a.cluster.await_nodes(&["hole-b"], WAIT));
    let on_b = spawn_worker(&b);
    let monitor = watch(&a, on_b, false);
    ping(&a, on_b).unwrap();
    proxy.blackhole.store(true, Ordering::SeqCst);
    let cut = Instant::now();
    let (event, at) = monitor.recv_timeout(WAIT).unwrap();
    assert!(matches!(event, Event::Exit { result: Err(ref e), .. } if e.message() == NODE_DOWN));
    let after = at - cut;
    // Heartbeats every 200 ms, down after 1 s of silence.
    assert!(
        after >= Duration::from_millis(700) && after < Duration::from_secs(3),
        "found out after {after:?}"
    );
    assert!(matches!(
        a.node().send(None, on_b, "ping", Payload::Nil),
        Err(Error::NodeNotFound(_))
    ));
}
