//! Monitors, links, cancels and terminates across nodes, and remote spawn.

mod support;

use std::sync::mpsc;

use support::{WAIT, nodes, server, watch};
use wippy_host::SpawnRequest;
use wippy_process::{Event, ExitError, Payload, Pid, SpawnOptions};
use wippy_security::Principal;

/// A process that ends with `stop`'s payload as its error, or cleanly on
/// "done".
fn stoppable(n: &support::TestNode) -> Pid {
    n.native()
        .spawn_async(SpawnOptions::default(), |cx| async move {
            let m = cx.recv().await;
            match m.topic.as_str() {
                "done" => Ok(Payload::from("finished")),
                _ => Err(ExitError::new(m.payload.to_string())),
            }
        })
        .unwrap()
}

#[test]
fn a_remote_monitor_gets_the_exit_with_its_result() {
    let Some(srv) = server(false) else { return };
    let ns = nodes(&["mon-a", "mon-b"], &srv.url());
    let target = stoppable(&ns[1]);
    let rx = watch(&ns[0], target, false);
    // The monitor and this message go from a to b in one ordered stream.
    ns[0]
        .node()
        .send(None, target, "fail", "boom".into())
        .unwrap();
    match rx.recv_timeout(WAIT).unwrap().0 {
        Event::Exit { from, result } => {
            assert_eq!(from, target);
            assert_eq!(result, Err(ExitError::new("boom")));
        }
        e => panic!("unexpected {e:?}"),
    }
    assert_eq!(ns[0].cluster.stats().monitors, 0, "the monitor is gone");
}

#[test]
fn monitoring_a_remote_process_that_ended_gives_noproc() {
    let Some(srv) = server(false) else { return };
    let ns = nodes(&["noproc-a", "noproc-b"], &srv.url());
    let target = stoppable(&ns[1]);
    ns[1]
        .node()
        .send(None, target, "done", Payload::Nil)
        .unwrap();
    while ns[1].node().is_alive(target) {
        std::thread::yield_now();
    }
    let rx = watch(&ns[0], target, false);
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap().0,
        Event::Exit {
            from: target,
            result: Err(ExitError::new("noproc"))
        }
    );
}

#[test]
fn a_remote_link_failure_ends_the_partner_or_reaches_it_as_link_down() {
    let Some(srv) = server(false) else { return };
    let ns = nodes(&["link-a", "link-b"], &srv.url());
    // A trapping process on a links to a process on b, which fails.
    let target = stoppable(&ns[1]);
    let rx = watch(&ns[0], target, true);
    ns[0]
        .node()
        .send(None, target, "fail", "crash".into())
        .unwrap();
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap().0,
        Event::LinkDown {
            from: target,
            error: ExitError::new("crash")
        }
    );

    // Not trapping, on b, linked to a process on a that fails: b's ends.
    let failing = stoppable(&ns[0]);
    let (ready_tx, ready_rx) = mpsc::channel();
    let victim = ns[1]
        .native()
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            cx.node().link(cx.pid(), failing).unwrap();
            ready_tx.send(()).unwrap();
            cx.recv().await;
            Ok(Payload::Nil)
        })
        .unwrap();
    let rx = watch(&ns[1], victim, false);
    ready_rx.recv_timeout(WAIT).unwrap();
    ns[1]
        .node()
        .send(None, failing, "fail", "bad".into())
        .unwrap();
    match rx.recv_timeout(WAIT).unwrap().0 {
        Event::Exit { from, result } => {
            assert_eq!(from, victim);
            assert_eq!(
                result.unwrap_err().message(),
                format!("linked process {failing} failed: bad")
            );
        }
        e => panic!("unexpected {e:?}"),
    }
}

#[test]
fn cancel_and_terminate_reach_processes_of_other_nodes() {
    let Some(srv) = server(false) else { return };
    let ns = nodes(&["term-a", "term-b"], &srv.url());
    let (tx, rx) = mpsc::channel();
    let polite = ns[1]
        .native()
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            let e = cx.next_event().await;
            tx.send(matches!(e, Event::Cancel { .. })).unwrap();
            Ok(Payload::Nil)
        })
        .unwrap();
    ns[0]
        .node()
        .cancel(None, polite, std::time::Duration::from_secs(5), "")
        .unwrap();
    assert!(rx.recv_timeout(WAIT).unwrap(), "CANCEL arrived");

    let stubborn = stoppable(&ns[1]);
    let rx = watch(&ns[1], stubborn, false);
    ns[0].node().terminate(stubborn).unwrap();
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap().0,
        Event::Exit {
            from: stubborn,
            result: Err(ExitError::terminated())
        }
    );
}

#[test]
fn a_remote_spawn_runs_the_entry_there_and_a_linked_one_is_linked_before_it_answers() {
    let Some(srv) = server(false) else { return };
    let ns = nodes(&["spawn-a", "spawn-b"], &srv.url());
    for n in &ns {
        n.host.add("app:echo", |cx, args| async move {
            let m = cx.recv().await;
            cx.send(m.from.unwrap(), "echo", Payload::Array(args))
                .unwrap();
            Ok(Payload::Nil)
        });
        // Fails at once with its argument: its EXIT races the spawn's answer.
        n.host.add("app:fail", |_cx, args| async move {
            Err(ExitError::new(args[0].to_string()))
        });
    }
    let cluster = ns[0].cluster.clone();
    let (tx, rx) = mpsc::channel();
    ns[0]
        .native()
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            let mut req = SpawnRequest::new("app:echo".parse().unwrap());
            req.args = vec![Payload::Int(1), "two".into()];
            req.opts = SpawnOptions::default().parent(cx.pid());
            let target = "spawn-b@app:native";
            let child = cluster
                .spawn(&Principal::system(), target, req)
                .await
                .unwrap();
            cx.send(child, "hi", Payload::Nil).unwrap();
            let m = cx.recv().await;
            tx.send((child, m.payload)).unwrap();

            // Monitored, failing at once: the EXIT is never lost to the race.
            let mut req = SpawnRequest::new("app:fail".parse().unwrap());
            req.args = vec!["early".into()];
            req.opts = SpawnOptions::default().parent(cx.pid()).monitored();
            let child = cluster
                .spawn(&Principal::system(), target, req)
                .await
                .unwrap();
            let e = cx.next_event().await;
            tx.send((child, Payload::from(format!("{e:?}")))).unwrap();
            Ok(Payload::Nil)
        })
        .unwrap();
    let (child, echoed) = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(child.node(), ns[1].cluster.node_id(), "it runs on b");
    assert_eq!(echoed, Payload::Array(vec![Payload::Int(1), "two".into()]));
    let (child, event) = rx.recv_timeout(WAIT).unwrap();
    let event = event.as_str().unwrap().to_owned();
    assert!(event.contains(&format!("{child:?}")), "{event}");
    assert!(event.contains("early"), "{event}");

    // A linked spawn whose parent fails takes the child down.
    let cluster = ns[0].cluster.clone();
    let (tx, rx) = mpsc::channel();
    let parent = ns[0]
        .native()
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            let mut req = SpawnRequest::new("app:echo".parse().unwrap());
            req.opts = SpawnOptions::default().parent(cx.pid()).linked();
            let child = cluster
                .spawn(&Principal::system(), "spawn-b@app:native", req)
                .await
                .unwrap();
            tx.send(child).unwrap();
            cx.recv().await;
            Err(ExitError::new("parent gives up"))
        })
        .unwrap();
    let child = rx.recv_timeout(WAIT).unwrap();
    let rx = watch(&ns[1], child, false);
    ns[0].node().send(None, parent, "go", Payload::Nil).unwrap();
    match rx.recv_timeout(WAIT).unwrap().0 {
        Event::Exit { from, result } => {
            assert_eq!(from, child);
            assert_eq!(
                result.unwrap_err().message(),
                format!("linked process {parent} failed: parent gives up")
            );
        }
        e => panic!("unexpected {e:?}"),
    }

    // Spawn errors come back as errors.
    let err = ns[0]
        .cluster
        .spawn(
            &Principal::system(),
            "spawn-b@app:native",
            SpawnRequest::new("app:nothing".parse().unwrap()),
        )
        .wait(WAIT)
        .unwrap()
        .unwrap_err();
    assert!(err.to_string().contains("app:nothing"), "{err}");
    let err = ns[0]
        .cluster
        .spawn(
            &Principal::system(),
            "nobody@app:native",
            SpawnRequest::new("app:echo".parse().unwrap()),
        )
        .wait(WAIT)
        .unwrap()
        .unwrap_err();
    assert_eq!(err.to_string(), "node not found: nobody");
}
