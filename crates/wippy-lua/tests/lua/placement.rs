//! Placement of new processes on a host's VM shards (`execution.md` §2):
//! the least-loaded shard; processes spawned together from outside the host
//! are kept together while the loads stay within 1/16 of the mean, and a
//! fan-out by the host's own processes spreads.

use wippy_process::Payload;

use crate::common::*;

const PARKED: &str = r#"
return { main = function() process.inbox():receive() end }
"#;

/// The shard whose load went up between two snapshots.
fn grown(before: &[usize], after: &[usize]) -> usize {
    let grew: Vec<usize> = (0..before.len())
        .filter(|&i| after[i] > before[i])
        .collect();
    assert_eq!(
        grew.len(),
        1,
        "one spawn, one shard: {before:?} -> {after:?}"
    );
    grew[0]
}

#[test]
fn the_first_processes_go_to_different_shards() {
    let t = TestApp::new(vec![entry("parked", PARKED)], 2);
    let shards = t.host.shard_loads().len();
    assert!(shards >= 2, "{shards} shards");
    let mut used = Vec::new();
    for _ in 0..shards {
        let before = t.host.shard_loads();
        t.spawn("parked", vec![]);
        used.push(grown(&before, &t.host.shard_loads()));
    }
    used.sort_unstable();
    used.dedup();
    assert_eq!(used.len(), shards, "one process per shard first");
}

#[test]
fn processes_spawned_together_share_a_shard_and_loads_stay_balanced() {
    let t = TestApp::new(vec![entry("parked", PARKED)], 2);
    let shards = t.host.shard_loads().len();
    let n = 4_000;
    let mut switches = 0;
    let mut last = None;
    for _ in 0..n {
        let before = t.host.shard_loads();
        t.spawn("parked", vec![Payload::Nil]);
        let now = t.host.shard_loads();
        let s = grown(&before, &now);
        if last.is_some_and(|l| l != s) {
            switches += 1;
        }
        last = Some(s);
        let total: usize = now.iter().sum();
        let (min, max) = (now.iter().min().unwrap(), now.iter().max().unwrap());
        assert!(
            max - min <= total / (shards * 16) + 1,
            "loads drifted apart: {now:?}"
        );
    }
    // Strict least-loaded placement would switch shards on every spawn.
    assert!(
        switches < n / 5,
        "{switches} shard switches in {n} consecutive spawns"
    );
}

#[test]
fn a_fan_out_from_a_process_of_the_host_spreads_over_every_shard() {
    let spawner = r#"
        return { main = function(n)
            for i = 1, n do process.spawn("app:parked", "app:workers") end
            return true
        end }
    "#;
    let t = TestApp::new(vec![entry("parked", PARKED), entry("spawner", spawner)], 2);
    let shards = t.host.shard_loads().len();
    let n = shards * 200;
    assert_eq!(
        exit_value(t.run("spawner", vec![Payload::Int(n as i64)], TIMEOUT)),
        Payload::Bool(true)
    );
    wait_until("the children are placed", TIMEOUT, || {
        t.host.shard_loads().iter().sum::<usize>() >= n
    });
    let loads = t.host.shard_loads();
    let (min, max) = (loads.iter().min().unwrap(), loads.iter().max().unwrap());
    assert!(max - min <= 2, "children were not spread: {loads:?}");
}
