//! `wippy run --cluster URL --node NAME`: the app runs as a node of the
//! cluster; a wrong URL or node name is a clear error.

use std::process::Command;

use wippy_cluster::NatsServer;

fn app(name: &str) -> String {
    format!("{}/tests/apps/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs `wippy ARGS` (they all end quickly): exit code and stderr.
fn wippy(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wippy"))
        .args(args)
        .output()
        .expect("the wippy binary runs");
    (
        out.status.code().expect("wippy exited, not killed"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn run_joins_the_cluster_and_runs_its_entry_there() {
    let server = match NatsServer::start(false) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("SKIPPED: {e}");
            return;
        }
    };
    let url = server.url();
    let dir = app("exec");
    let (code, stderr) = wippy(&[
        "--log-level",
        "info",
        "run",
        "--cluster",
        &url,
        "--node",
        "cli-a",
        "-x",
        "app:returns_three",
        &dir,
    ]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("joined the cluster"), "{stderr}");
    assert!(
        stderr.contains("cli-a."),
        "the node's identity is logged: {stderr}"
    );
}

#[test]
fn a_bad_node_name_or_an_unreachable_server_is_a_clear_error() {
    let dir = app("exec");
    let (code, stderr) = wippy(&[
        "run",
        "--cluster",
        "nats://127.0.0.1:1",
        "--node",
        "a.b",
        "-x",
        "app:returns_three",
        &dir,
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("--node: invalid node \"a.b"), "{stderr}");
    let (code, stderr) = wippy(&[
        "run",
        "--cluster",
        "nats://127.0.0.1:1",
        "--node",
        "a",
        "-x",
        "app:returns_three",
        &dir,
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("cannot join the cluster: cannot connect to NATS at nats://127.0.0.1:1"),
        "{stderr}"
    );
}

/// Says, past libtest's capture, that a test did not run here and why.
fn skip(test: &str, reason: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "test {test} ... SKIPPED: {reason}");
}

/// A `wippy` process killed when dropped (a node that serves until told).
struct Node(std::process::Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for `child` to end within `limit` (killed after): exit code,
/// stdout, stderr.
fn finish(
    mut child: std::process::Child,
    limit: std::time::Duration,
) -> (Option<i32>, String, String) {
    use std::io::Read;
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = std::time::Instant::now() + limit;
    let code = loop {
        if let Some(status) = child.try_wait().expect("wippy can be waited for") {
            break status.code();
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    (code, out.join().unwrap(), err.join().unwrap())
}

#[test]
fn two_nodes_play_ping_pong_and_share_a_worker_pool() {
    let server = match NatsServer::start(false) {
        Ok(s) => s,
        Err(e) => {
            skip(
                "two_nodes_play_ping_pong_and_share_a_worker_pool",
                &e.to_string(),
            );
            return;
        }
    };
    let url = server.url();
    let dir = app("twonode");
    // Node b serves (its pong service and its host) until killed.
    let _b = Node(
        Command::new(env!("CARGO_BIN_EXE_wippy"))
            .args(["run", "--cluster", &url, "--node", "b", &dir])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("node b starts"),
    );
    // Node a runs the driver against b, and ends with its result.
    let a = Command::new(env!("CARGO_BIN_EXE_wippy"))
        .args([
            "run",
            "--cluster",
            &url,
            "--node",
            "a",
            "-x",
            "app:main",
            &dir,
            "--",
            "b",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node a starts");
    let (code, stdout, stderr) = finish(a, std::time::Duration::from_secs(60));
    assert_eq!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "ping-pong: 100 rounds between a and b",
            "pool: 10 jobs, 5 on a, 5 on b, sum of squares 385",
        ],
        "stderr:\n{stderr}"
    );
}
