//! What a Lua host shows of itself to tools such as `wippy top`: its VMs
//! and processes (`LuaHost::snapshot`) and which process each VM is
//! stepping (`LuaHost::running`).

use wippy_host::registry::Isolation;
use wippy_lua::{LuaHostConfig, ProcessInfo};
use wippy_process::{Payload, Pid, RunState};

use crate::common::*;

const WAITS: &str = r#"return { main = function()
    process.events():receive()
end }"#;

const SPINS: &str = r#"return { main = function()
    local n = 0
    while true do n = n + 1 end
end }"#;

/// The snapshot entry of `pid`, once the process is listed.
fn listed(t: &TestApp, pid: Pid) -> ProcessInfo {
    let mut found = None;
    wait_until("the process listed", TIMEOUT, || {
        found = t
            .host
            .snapshot()
            .processes
            .into_iter()
            .find(|p| p.pid == pid);
        found.is_some()
    });
    found.expect("listed")
}

#[test]
fn a_snapshot_lists_every_process_with_its_entry_state_and_mailbox() {
    let t = TestApp::new(vec![entry("waits", WAITS), entry("other", WAITS)], 2);
    let a = t.spawn("waits", vec![]);
    let b = t.spawn("other", vec![]);
    for _ in 0..3 {
        t.send(None, a, "hello", Payload::Nil);
    }
    // `a` waits for an event, so its three messages stay in the mailbox.
    wait_until("both parked, a with three messages", TIMEOUT, || {
        let snap = t.host.snapshot();
        let of = |pid| snap.processes.iter().find(|p| p.pid == pid).cloned();
        matches!((of(a), of(b)), (Some(pa), Some(pb))
            if pa.status.state == RunState::Idle && pa.status.mailbox == 3
                && pb.status.state == RunState::Idle && pb.status.mailbox == 0)
    });
    let snap = t.host.snapshot();
    let pa = snap.processes.iter().find(|p| p.pid == a).unwrap();
    assert_eq!(pa.entry.as_str(), "app:waits");
    let pb = snap.processes.iter().find(|p| p.pid == b).unwrap();
    assert_eq!(pb.entry.as_str(), "app:other");
    // Shared VMs do not account memory per process; the shard does.
    assert_eq!(pa.heap_bytes, None);
    assert_eq!(snap.shards.len(), 8, "four shards per worker");
    let home = snap.shards.iter().find(|s| s.id == pa.shard).unwrap();
    assert!(home.processes >= 1 && home.heap_bytes > 0, "{home:?}");
    assert_eq!(
        snap.shards.iter().map(|s| s.processes).sum::<usize>(),
        2,
        "{:?}",
        snap.shards
    );

    t.rt.node().terminate(a).unwrap();
    wait_until("a gone from the snapshot", TIMEOUT, || {
        t.host.snapshot().processes.iter().all(|p| p.pid != a)
    });
}

#[test]
fn running_names_the_slot_of_a_busy_process() {
    let t = TestApp::new(vec![entry("spins", SPINS), entry("waits", WAITS)], 1);
    t.spawn("waits", vec![]);
    let busy = t.spawn("spins", vec![]);
    let info = listed(&t, busy);
    let mut seen = Vec::new();
    wait_until("the spinning process sampled as running", TIMEOUT, || {
        seen.clear();
        t.host.running(&mut seen);
        seen.contains(&(info.shard, info.slot))
    });
    t.rt.node().terminate(busy).unwrap();
}

#[test]
fn on_a_dedicated_host_each_process_has_its_vm_and_its_heap() {
    let mut config = LuaHostConfig::new(HOST, 1);
    config.isolation = Isolation::Dedicated;
    let t = TestApp::with_config(vec![entry("waits", WAITS), entry("spins", SPINS)], config);
    let pids: Vec<_> = (0..3).map(|_| t.spawn("waits", vec![])).collect();
    wait_until("three processes listed", TIMEOUT, || {
        t.host.snapshot().processes.len() == 3
    });
    let snap = t.host.snapshot();
    assert_eq!(snap.shards.len(), 3, "one VM each: {:?}", snap.shards);
    for p in &snap.processes {
        assert!(pids.contains(&p.pid));
        let vm = snap.shards.iter().find(|s| s.id == p.shard).unwrap();
        assert_eq!(p.heap_bytes, Some(vm.heap_bytes));
        assert!(vm.heap_bytes > 0);
    }
    let busy = t.spawn("spins", vec![]);
    let info = listed(&t, busy);
    let mut seen = Vec::new();
    wait_until("the dedicated spinner sampled as running", TIMEOUT, || {
        seen.clear();
        t.host.running(&mut seen);
        seen.contains(&(info.shard, info.slot))
    });
    for pid in pids.into_iter().chain([busy]) {
        t.rt.node().terminate(pid).unwrap();
    }
    wait_until("ended VMs gone from the snapshot", TIMEOUT, || {
        t.host.snapshot().shards.is_empty()
    });
}
