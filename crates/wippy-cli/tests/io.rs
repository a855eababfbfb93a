//! The terminal host's `io` module against a real stdin: byte counts,
//! lines, the rest of the input, and end of input as `nil, err`.

use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn io_reads_bytes_lines_and_the_rest_then_reports_end_of_input() {
    let dir = format!("{}/tests/apps/stdin", env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_wippy"))
        .args(["run", "-x", "app:read", &dir])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the wippy binary starts");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin
        .write_all(b"abcdef\r\nsecond\nthird\nfourth\n")
        .expect("write stdin");
    drop(stdin); // end of input
    let out = child.wait_with_output().expect("wippy runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout,
        concat!(
            "bytes\tabc|nil\n",
            "zero\t|nil\n",
            "line\tdef|nil\n", // the rest of the first line, without its \r\n
            "default\tsecond|nil\n",
            "rest\tthird\nfourth\n|nil\n",
            "eof\tnil|end of input\n",
            "eof bytes\tnil|end of input\n",
            "bad\tfalse|io.read: expected a byte count, \"l\" or \"a\", got x\n",
        )
    );
}
