//! The text of a process's EXIT error is bounded and readable: a stack
//! overflow or a huge message is cut (saying so), and a table raised as an
//! error reads as its contents (issue 12, defect 10).

use crate::common::*;

/// The EXIT error of a process whose `main` is `body`.
fn failure(body: &str) -> String {
    let src = format!("local M = {{}}\nfunction M.main()\n{body}\nend\nreturn M\n");
    let t = TestApp::new(vec![entry("fails", &src)], 1);
    exit_error(&t.run("fails", vec![], TIMEOUT))
}

#[test]
fn a_stack_overflow_error_is_short_and_says_levels_were_cut() {
    let err = failure("local function f() return 1 + f() end\nreturn f()");
    assert!(
        err.contains("stack overflow"),
        "{}",
        &err[..err.len().min(300)]
    );
    assert!(
        err.contains("levels cut"),
        "{}",
        &err[..err.len().min(2000)]
    );
    assert!(err.len() < 4096, "{} bytes of error text", err.len());
    // Its innermost and outermost frames are both there.
    assert!(
        err.contains("in function 'f'") && err.contains("in function 'main'"),
        "{err}"
    );
}

#[test]
fn a_huge_error_message_is_cut_and_says_so() {
    let err = failure(r#"error(string.rep("x", 1000000))"#);
    assert!(err.contains("bytes cut)"), "{}", &err[..err.len().min(300)]);
    assert!(err.len() < 8192, "{} bytes of error text", err.len());
}

#[test]
fn a_table_raised_as_an_error_keeps_its_contents() {
    let err = failure(r#"error({ code = 1, why = "bad input" })"#);
    assert!(
        err.contains(r#""code":1"#) && err.contains(r#""why":"bad input""#),
        "{err}"
    );
    assert!(!err.contains("table: 0x"), "{err}");
}
