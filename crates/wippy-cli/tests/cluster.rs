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
