//! The global registry's scopes across nodes.

mod support;

use std::sync::{Arc, Barrier, mpsc};
use std::time::{Duration, Instant};

use support::{WAIT, nodes, server};
use wippy_cluster::{ClusterError, LOST_TOPIC, NameScope};
use wippy_process::{Payload, Pid, SpawnOptions};

/// A process that lives until it is sent "stop", and reports every other
/// message it gets on `seen`.
fn resident(n: &support::TestNode, seen: Option<mpsc::Sender<(String, Payload)>>) -> Pid {
    n.native()
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            loop {
                let m = cx.recv().await;
                if m.topic == "stop" {
                    return Ok(Payload::Nil);
                }
                if let Some(s) = &seen {
                    let _ = s.send((m.topic.to_string(), m.payload));
                }
            }
        })
        .unwrap()
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn consistent_registration_has_exactly_one_winner_of_a_three_way_race() {
    let Some(srv) = server(false) else { return };
    let ns = nodes(&["race-a", "race-b", "race-c"], &srv.url());
    for round in 0..5 {
        let name = format!("leader-{round}");
        let pids: Vec<Pid> = ns.iter().map(|n| resident(n, None)).collect();
        let start = Arc::new(Barrier::new(3));
        let results: Vec<Result<(), ClusterError>> = std::thread::scope(|s| {
            let handles: Vec<_> = ns
                .iter()
                .zip(&pids)
                .map(|(n, &pid)| {
                    let start = start.clone();
                    let name = name.clone();
                    s.spawn(move || {
                        start.wait();
                        n.cluster
                            .register(&name, pid, NameScope::Consistent)
                            .wait(WAIT)
                            .expect("an answer")
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners: Vec<Pid> = results
            .iter()
            .zip(&pids)
            .filter(|(r, _)| r.is_ok())
            .map(|(_, p)| *p)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        for r in &results {
            if let Err(e) = r {
                assert!(
                    matches!(e, ClusterError::NameTaken { holder, .. } if *holder == winners[0]),
                    "a loser is told who has it: {e}"
                );
            }
        }
        for n in &ns {
            eventually("every node to see the winner", || {
                n.cluster.lookup(&name) == Some(winners[0])
            });
        }
    }
}

#[test]
fn a_name_is_freed_when_its_process_ends_and_can_be_taken_again() {
    let Some(srv) = server(false) else { return };
    let ns = nodes(&["free-a", "free-b"], &srv.url());
    let first = resident(&ns[0], None);
    ns[0]
        .cluster
        .register("svc", first, NameScope::Consistent)
        .wait(WAIT)
        .unwrap()
        .unwrap();
    // The same name for the same process again: no error.
    ns[0]
        .cluster
        .register("svc", first, NameScope::Consistent)
        .wait(WAIT)
        .unwrap()
        .unwrap();
    eventually("b to see it", || ns[1].cluster.lookup("svc") == Some(first));
    ns[0]
        .node()
        .send(None, first, "stop", Payload::Nil)
        .unwrap();
    eventually("the name to go", || {
        ns[0].cluster.lookup("svc").is_none() && ns[1].cluster.lookup("svc").is_none()
    });
    let second = resident(&ns[1], None);
    ns[1]
        .cluster
        .register("svc", second, NameScope::Consistent)
        .wait(WAIT)
        .unwrap()
        .unwrap();
    eventually("a to see the new holder", || {
        ns[0].cluster.lookup("svc") == Some(second)
    });
    // Sending by the name found reaches it across nodes.
    let to = ns[0].cluster.lookup("svc").unwrap();
    ns[0].node().send(None, to, "stop", Payload::Nil).unwrap();
    eventually("the second holder to end", || {
        ns[1].cluster.lookup("svc").is_none()
    });
}

#[test]
fn eventual_registration_binds_at_once_and_a_conflict_leaves_one_winner_and_a_told_loser() {
    let Some(srv) = server(false) else { return };
    let ns = nodes(&["ev-a", "ev-b"], &srv.url());
    let (tx, rx) = mpsc::channel();
    let pa = resident(&ns[0], Some(tx.clone()));
    let pb = resident(&ns[1], Some(tx));
    // Bound at once, here.
    let started = Instant::now();
    ns[0]
        .cluster
        .register("solo", pa, NameScope::Eventual)
        .wait(WAIT)
        .unwrap()
        .unwrap();
    assert_eq!(ns[0].cluster.lookup("solo"), Some(pa));
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "no round trip"
    );
    eventually("b to see solo", || ns[1].cluster.lookup("solo") == Some(pa));

    // Both bind the same name before either hears of the other's.
    let mut conflicts = 0;
    for round in 0..10 {
        let name = format!("contested-{round}");
        let start = Barrier::new(2);
        let (ra, rb) = std::thread::scope(|s| {
            let a = s.spawn(|| {
                start.wait();
                ns[0]
                    .cluster
                    .register(&name, pa, NameScope::Eventual)
                    .wait(WAIT)
                    .unwrap()
            });
            let b = s.spawn(|| {
                start.wait();
                ns[1]
                    .cluster
                    .register(&name, pb, NameScope::Eventual)
                    .wait(WAIT)
                    .unwrap()
            });
            (a.join().unwrap(), b.join().unwrap())
        });
        if ra.is_err() || rb.is_err() {
            continue; // one saw the other's binding first: no conflict this round
        }
        conflicts += 1;
        let mut winner = None;
        eventually("both nodes to agree", || {
            let a = ns[0].cluster.lookup(&name);
            winner = a;
            a.is_some() && a == ns[1].cluster.lookup(&name)
        });
        let winner = winner.unwrap();
        let loser = if winner == pa { pb } else { pa };
        let (topic, payload) = rx.recv_timeout(WAIT).expect("the loser is told");
        assert_eq!(topic, LOST_TOPIC);
        assert_eq!(payload.get("name"), Some(&Payload::from(name.as_str())));
        assert_eq!(payload.get("holder"), Some(&Payload::Pid(winner)));
        assert_ne!(loser, winner);
        break;
    }
    assert!(conflicts > 0, "no round produced a conflict to resolve");
}

#[test]
fn strong_registration_is_known_to_every_node_when_it_returns() {
    let Some(srv) = server(false) else { return };
    let ns = nodes(&["strong-a", "strong-b", "strong-c"], &srv.url());
    let p = resident(&ns[0], None);
    ns[0]
        .cluster
        .register("everywhere", p, NameScope::Strong)
        .wait(WAIT)
        .unwrap()
        .unwrap();
    for n in &ns {
        assert_eq!(n.cluster.lookup("everywhere"), Some(p), "no waiting needed");
    }
    let q = resident(&ns[1], None);
    match ns[1]
        .cluster
        .register("everywhere", q, NameScope::Strong)
        .wait(WAIT)
        .unwrap()
    {
        Err(ClusterError::NameTaken { holder, .. }) => assert_eq!(holder, p),
        other => panic!("expected name taken, got {other:?}"),
    }
}

#[test]
fn local_names_stay_on_their_node_and_lookup_finds_every_scope() {
    let Some(srv) = server(false) else { return };
    let ns = nodes(&["loc-a", "loc-b"], &srv.url());
    let p = resident(&ns[0], None);
    ns[0]
        .cluster
        .register("here-only", p, NameScope::Local)
        .wait(WAIT)
        .unwrap()
        .unwrap();
    assert_eq!(ns[0].cluster.lookup("here-only"), Some(p));
    ns[0]
        .cluster
        .register("global", p, NameScope::Consistent)
        .wait(WAIT)
        .unwrap()
        .unwrap();
    eventually("b to see the global name", || {
        ns[1].cluster.lookup("global") == Some(p)
    });
    assert_eq!(ns[1].cluster.lookup("here-only"), None);
    // Unregister: only the holder's own name goes.
    let other = resident(&ns[0], None);
    assert!(
        !ns[0]
            .cluster
            .unregister("global", other, NameScope::Consistent)
            .wait(WAIT)
            .unwrap()
    );
    assert!(
        ns[0]
            .cluster
            .unregister("global", p, NameScope::Consistent)
            .wait(WAIT)
            .unwrap()
    );
    eventually("the name to go everywhere", || {
        ns[1].cluster.lookup("global").is_none()
    });
    // A remote pid cannot be registered here.
    let remote = resident(&ns[1], None);
    assert!(matches!(
        ns[0]
            .cluster
            .register("x", remote, NameScope::Consistent)
            .wait(WAIT)
            .unwrap(),
        Err(ClusterError::NotLocal(_))
    ));
}
