//! Shared by the CLI tests: run the real `rebound` binary.

use std::process::Command;

/// Run `rebound` with `args`; exit code (-1 if killed), stdout, stderr.
pub fn rebound(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rebound"))
        .args(args)
        .output()
        .expect("run rebound");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
