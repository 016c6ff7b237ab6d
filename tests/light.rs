//! The light `avc`: language commands run in it without libtorch, and every other command
//! is handed to `avc-torch` with its output and exit code unchanged.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Output, Stdio};

fn avc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_avc")).args(args).output().expect("avc runs")
}

/// `avc lsp` stays up, so its process can be inspected once it answered `initialize`: it
/// maps no libtorch library and its peak memory (VmHWM, this program's own since exec) is a
/// few MiB. The same binary runs `check`, `fmt`, `graph` and `ops`, so they load none either.
#[test]
fn the_light_avc_maps_no_libtorch() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_avc"))
        .arg("lsp")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("avc lsp starts");
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}"#;
    let mut stdin = child.stdin.take().expect("piped");
    write!(stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    stdin.flush().unwrap();
    let mut reader = BufReader::new(child.stdout.take().expect("piped"));
    let mut header = String::new();
    reader.read_line(&mut header).unwrap();
    let length: usize = header.trim().strip_prefix("Content-Length: ").and_then(|n| n.parse().ok()).expect("a header");
    let mut rest = String::new();
    reader.read_line(&mut rest).unwrap();
    let mut reply = vec![0; length];
    reader.read_exact(&mut reply).unwrap();
    assert!(String::from_utf8_lossy(&reply).contains("capabilities"), "{}", String::from_utf8_lossy(&reply));

    let proc = format!("/proc/{}", child.id());
    let maps = std::fs::read_to_string(format!("{proc}/maps")).unwrap();
    let status = std::fs::read_to_string(format!("{proc}/status")).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let torch: Vec<&str> = maps.lines().filter(|l| l.contains("libtorch") || l.contains("libc10")).collect();
    assert!(torch.is_empty(), "avc maps libtorch:\n{}", torch.join("\n"));
    let peak_kib: i64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    assert!(peak_kib < 30 * 1024, "avc lsp peaked at {peak_kib} KiB");
}

#[test]
fn other_commands_are_avc_torch_with_their_exit_codes() {
    // doctor reports the libtorch version: it ran in avc-torch.
    let out = avc(&["doctor"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("libtorch 2."), "{}", String::from_utf8_lossy(&out.stdout));
    // Usage errors keep clap's code 2 and name the program `avc`.
    let out = avc(&["train", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Usage: avc train"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A model error in a torch command: exit code 1, as before.
    let out = avc(&["train", "crates/avc-lang/tests/fixtures/err/shape_concat.yaml", "--device", "cpu"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    // The language commands keep theirs too.
    assert_eq!(avc(&["check", "crates/avc-lang/tests/fixtures/err/shape_concat.yaml"]).status.code(), Some(1));
    assert_eq!(avc(&["check", "no/such/file.avc"]).status.code(), Some(2));
    assert!(avc(&["check", "architectures/final.avc"]).status.success());
}
