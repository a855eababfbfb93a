//! `wippy top`: the app runs as with `wippy run`, and a view of its hosts,
//! processes and supervision tree is refreshed once a second: redrawn in
//! place on a terminal, printed as one snapshot after another otherwise.
//!
//! CPU time is sampled, not measured (a clock read per step would slow
//! every process down): a sampler thread looks every [`SAMPLE`] at which
//! slot each VM is stepping ([`LuaHost::running`]) and charges the interval
//! to that slot; each refresh hands the charges to the processes found in
//! those slots. A slot reused within one refresh charges its new process.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wippy_lua::{LuaHost, ShardId};
use wippy_process::{Pid, RunState};
use wippy_supervise::{ChildState, Supervisor};

use crate::boot::Booted;
use crate::logging::Logs;

/// How often the view is refreshed.
const REFRESH: Duration = Duration::from_secs(1);

/// How often the sampler looks at what the VMs are running.
const SAMPLE: Duration = Duration::from_millis(10);

/// Shows the view until Ctrl-C / SIGTERM; the exit code (0).
pub fn run(booted: &Booted, logs: &Logs, sig: &Receiver<()>) -> u8 {
    let tty = std::io::stdout().is_terminal();
    // On a terminal, log lines would tear the view apart.
    let _hidden = tty.then(|| logs.hide());
    let sampler = Sampler::start(booted.hosts.clone());
    let mut cpu = Cpu::default();
    let started = Instant::now();
    let mut next = started + REFRESH;
    // Until Ctrl-C (or the handler is gone).
    while let Err(RecvTimeoutError::Timeout) =
        sig.recv_timeout(next.saturating_duration_since(Instant::now()))
    {
        // A refresh that came late (a VM held for long) is not caught up.
        next = (next + REFRESH).max(Instant::now());
        let view = view(booted, sampler.take(), &mut cpu);
        let mut text = String::new();
        if tty {
            // Cursor home, clear the screen.
            text.push_str("\x1b[H\x1b[2J");
        }
        render(&view, started.elapsed(), &mut text);
        let mut out = std::io::stdout().lock();
        if out
            .write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .is_err()
        {
            // Nobody reads the view any more (`wippy top | head`).
            break;
        }
    }
    crate::signals::announce_shutdown();
    0
}

/// CPU time charged since the last refresh, by VM slot and by host (an
/// index into `Booted::hosts`).
#[derive(Default)]
struct Charges {
    slots: HashMap<(usize, ShardId, u32), Duration>,
    hosts: HashMap<usize, Duration>,
}

/// The sampler thread; stops when dropped.
struct Sampler {
    charges: Arc<Mutex<Charges>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    fn start(hosts: Vec<Arc<LuaHost>>) -> Sampler {
        let charges = Arc::new(Mutex::new(Charges::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (charges.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("wippy-top-sampler".into())
            .spawn(move || sample(&hosts, &c, &s))
            .map_err(|e| tracing::warn!("cannot start the CPU sampler: {e}"))
            .ok();
        Sampler {
            charges,
            stop,
            thread,
        }
    }

    /// The charges since the last call.
    fn take(&self) -> Charges {
        std::mem::take(&mut *self.charges.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        // Relaxed: the join orders everything after it.
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}

/// The sampler's loop: each look charges the time since the previous one
/// to every slot a VM is stepping (so a late wake-up loses nothing).
fn sample(hosts: &[Arc<LuaHost>], charges: &Mutex<Charges>, stop: &AtomicBool) {
    let mut running = Vec::new();
    let mut last = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(SAMPLE);
        let now = Instant::now();
        let interval = now - last;
        last = now;
        let mut c = charges.lock().unwrap_or_else(PoisonError::into_inner);
        for (h, host) in hosts.iter().enumerate() {
            running.clear();
            host.running(&mut running);
            for &(shard, slot) in &running {
                *c.slots.entry((h, shard, slot)).or_default() += interval;
                *c.hosts.entry(h).or_default() += interval;
            }
        }
    }
}

/// CPU time charged so far, by process and by host.
#[derive(Default)]
struct Cpu {
    processes: HashMap<Pid, Duration>,
    hosts: HashMap<usize, Duration>,
}

/// One line of the host table.
struct HostRow {
    name: String,
    vms: Option<usize>,
    processes: usize,
    heap: Option<usize>,
    cpu: Option<Duration>,
}

/// One line of the process table.
struct ProcessRow {
    pid: Pid,
    entry: Option<String>,
    state: &'static str,
    mailbox: usize,
    memory: Option<usize>,
    cpu: Option<Duration>,
}

/// One line of the supervision tree: a supervisor or a child.
struct TreeRow {
    /// Depth in the tree (the root supervisor is 0).
    depth: usize,
    name: String,
    pid: Option<Pid>,
    state: &'static str,
    /// Restarts of a child (none for the root).
    restarts: Option<u32>,
    /// The first line of its latest error.
    error: Option<String>,
}

/// What one refresh shows.
struct View {
    hosts: Vec<HostRow>,
    processes: Vec<ProcessRow>,
    tree: Vec<TreeRow>,
}

/// One word per state, so that the view splits into columns.
fn child_state_name(state: ChildState) -> &'static str {
    match state {
        ChildState::Running => "running",
        ChildState::Restarting => "restarting",
        ChildState::Exited => "exited",
        ChildState::GivenUp => "given-up",
    }
}

/// The rows of `sup`'s children, and of theirs, depth first. A supervisor
/// that has just ended shows no children.
fn subtree(sup: &Supervisor, depth: usize, rows: &mut Vec<TreeRow>) {
    let Ok(children) = sup.which_children() else {
        return;
    };
    for c in children {
        rows.push(TreeRow {
            depth,
            name: c.id,
            pid: c.pid,
            state: child_state_name(c.state),
            restarts: Some(c.restarts),
            error: c
                .last_error
                .map(|e| e.message().lines().next().unwrap_or("").to_owned()),
        });
        if let Some(nested) = &c.supervisor {
            subtree(nested, depth + 1, rows);
        }
    }
}

fn state_name(state: RunState) -> &'static str {
    match state {
        RunState::Ready => "ready",
        RunState::Idle => "idle",
        RunState::Waiting => "waiting",
        RunState::Ended => "ended",
    }
}

/// Takes the snapshots of every Lua host, then lists the native processes
/// (every other live cell), and adds `charges` to `cpu`.
fn view(booted: &Booted, charges: Charges, cpu: &mut Cpu) -> View {
    let mut hosts = Vec::new();
    let mut processes = Vec::new();
    let mut running = Vec::new();
    for (h, host) in booted.hosts.iter().enumerate() {
        let snap = host.snapshot();
        running.clear();
        host.running(&mut running);
        let host_cpu = cpu.hosts.entry(h).or_default();
        *host_cpu += charges.hosts.get(&h).copied().unwrap_or_default();
        let before = processes.len();
        for p in snap.processes {
            if p.status.state == RunState::Ended {
                continue;
            }
            let used = cpu.processes.entry(p.pid).or_default();
            *used += charges
                .slots
                .get(&(h, p.shard, p.slot))
                .copied()
                .unwrap_or_default();
            let state = if p.status.state == RunState::Ready && running.contains(&(p.shard, p.slot))
            {
                "running"
            } else {
                state_name(p.status.state)
            };
            processes.push(ProcessRow {
                pid: p.pid,
                entry: Some(p.entry.to_string()),
                state,
                mailbox: p.status.mailbox,
                memory: p.heap_bytes,
                cpu: Some(*used),
            });
        }
        hosts.push(HostRow {
            name: host.name().to_owned(),
            vms: Some(snap.shards.len()),
            processes: processes.len() - before,
            heap: Some(snap.shards.iter().map(|s| s.heap_bytes).sum()),
            cpu: Some(*host_cpu),
        });
    }
    let lua: HashSet<Pid> = processes.iter().map(|p| p.pid).collect();
    cpu.processes.retain(|pid, _| lua.contains(pid));
    let mut native: BTreeMap<&'static str, usize> = BTreeMap::new();
    for cell in booted.rt.node().cells() {
        let pid = cell.pid();
        let status = cell.status();
        if lua.contains(&pid) || status.state == RunState::Ended {
            continue;
        }
        *native.entry(pid.host().name()).or_default() += 1;
        processes.push(ProcessRow {
            pid,
            entry: None,
            state: state_name(status.state),
            mailbox: status.mailbox,
            memory: None,
            cpu: None,
        });
    }
    hosts.extend(native.into_iter().map(|(name, n)| HostRow {
        name: name.to_owned(),
        vms: None,
        processes: n,
        heap: None,
        cpu: None,
    }));
    hosts.sort_by(|a, b| a.name.cmp(&b.name));
    processes.sort_by_key(|p| (p.pid.host().name(), p.pid.local()));
    let root = &booted.supervisor;
    let mut tree = vec![TreeRow {
        depth: 0,
        name: "root".to_owned(),
        pid: Some(root.pid()),
        state: if root.is_running() {
            "running"
        } else {
            "ended"
        },
        restarts: None,
        error: None,
    }];
    subtree(root, 1, &mut tree);
    View {
        hosts,
        processes,
        tree,
    }
}

/// Appends the view: a title line, the host table, a blank line, the
/// process table, a blank line, the supervision tree, a blank line.
fn render(view: &View, up: Duration, out: &mut String) {
    let _ = writeln!(
        out,
        "wippy top: {} processes on {} hosts, up {}s",
        view.processes.len(),
        view.hosts.len(),
        up.as_secs()
    );
    let dash = || "-".to_owned();
    let hosts: Vec<Vec<String>> = view
        .hosts
        .iter()
        .map(|h| {
            vec![
                h.name.clone(),
                h.vms.map_or_else(dash, |n| n.to_string()),
                h.processes.to_string(),
                h.heap.map_or_else(dash, bytes),
                h.cpu.map_or_else(dash, seconds),
            ]
        })
        .collect();
    table(
        out,
        &["HOST", "VMS", "PROCESSES", "HEAP", "CPU"],
        &[false, true, true, true, true],
        &hosts,
    );
    out.push('\n');
    let processes: Vec<Vec<String>> = view
        .processes
        .iter()
        .map(|p| {
            vec![
                p.pid.to_string(),
                p.entry.clone().unwrap_or_else(dash),
                p.state.to_owned(),
                p.mailbox.to_string(),
                p.memory.map_or_else(dash, bytes),
                p.cpu.map_or_else(dash, seconds),
            ]
        })
        .collect();
    table(
        out,
        &["PID", "ENTRY", "STATE", "MAILBOX", "MEMORY", "CPU"],
        &[false, false, false, true, true, true],
        &processes,
    );
    out.push('\n');
    let tree: Vec<Vec<String>> = view
        .tree
        .iter()
        .map(|t| {
            vec![
                format!("{}{}", "  ".repeat(t.depth), t.name),
                t.pid.map_or_else(dash, |p| p.to_string()),
                t.state.to_owned(),
                t.restarts.map_or_else(dash, |n| n.to_string()),
                t.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(
        out,
        &["SUPERVISION", "PID", "STATE", "RESTARTS", "ERROR"],
        &[false, false, false, true, false],
        &tree,
    );
    out.push('\n');
}

/// Appends `rows` under `header` in columns as wide as their widest cell,
/// two spaces apart; a column is right-aligned where `right` says so.
fn table(out: &mut String, header: &[&str], right: &[bool], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            let pad = widths[i].saturating_sub(cell.chars().count());
            if right[i] {
                text.extend(std::iter::repeat_n(' ', pad));
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(out, &mut header.iter().copied());
    for row in rows {
        line(out, &mut row.iter().map(String::as_str));
    }
}

/// `512B`, `12.5K`, `3.0M`, `1.2G` (1024-based).
fn bytes(n: usize) -> String {
    const UNITS: [&str; 4] = ["B", "K", "M", "G"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n}B")
    } else {
        format!("{value:.1}{}", UNITS[unit])
    }
}

/// Seconds with two decimals: `0.00s`, `12.34s`.
fn seconds(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_times_are_short() {
        assert_eq!(bytes(512), "512B");
        assert_eq!(bytes(12 * 1024 + 512), "12.5K");
        assert_eq!(bytes(3 << 20), "3.0M");
        assert_eq!(seconds(Duration::from_millis(1234)), "1.23s");
    }

    #[test]
    fn tables_align_text_left_and_numbers_right() {
        let mut out = String::new();
        let rows = vec![
            vec!["app:a".to_owned(), "7".to_owned()],
            vec!["b".to_owned(), "1234".to_owned()],
        ];
        table(&mut out, &["NAME", "N"], &[false, true], &rows);
        assert_eq!(out, "NAME      N\napp:a     7\nb      1234\n");
    }
}
