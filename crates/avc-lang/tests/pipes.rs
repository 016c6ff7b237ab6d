//! A closed standard output ends a command as it ends `cat`: killed by SIGPIPE, with no
//! panic message (`avc check big.avc | head -2`).

#[cfg(unix)]
#[test]
fn a_reader_that_stops_early_ends_the_command_by_sigpipe_without_a_panic() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("big.avc");
    // Some 600 KB of output from `fmt`: far more than a pipe holds.
    let mut text = String::from("input video: [120, 1024]\nn0 = linear(video, out: 8)\n");
    for i in 1..20_000 {
        text.push_str(&format!("n{i} = linear(n{}, out: 8)   # a comment to print back\n", i - 1));
    }
    text.push_str("m = mean(n19999)\nh = linear(m, out: 1)\noutput match: logit(h)\n");
    std::fs::write(&path, text).expect("writable");
    let mut child = Command::new(env!("CARGO_BIN_EXE_avc-lang"))
        .arg("fmt")
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("avc-lang starts");
    let mut first = [0u8; 64];
    child.stdout.take().expect("piped").read_exact(&mut first).expect("some output");
    // The reading end is dropped here: the next write finds the pipe closed.
    let mut stderr = String::new();
    child.stderr.take().expect("piped").read_to_string(&mut stderr).expect("readable");
    let status = child.wait().expect("it ends");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(status.signal(), Some(libc::SIGPIPE), "{status:?}, stderr: {stderr}");
}
