//! Every architecture file is read with a size cap, and what is not a file is refused by
//! name before anything is read.

use avc_lang::compile::{MAX_FILE_BYTES, ReadError, read_source};

#[test]
fn a_file_past_the_cap_is_refused_by_name_and_limit() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("big.avc");
    let file = std::fs::File::create(&path).expect("writable");
    // Sparse: costs no disk, reads as zeros.
    file.set_len(MAX_FILE_BYTES + 1).expect("sized");
    let error = read_source(&path).expect_err("refused");
    assert!(matches!(error, ReadError::TooLarge { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.starts_with(&path.display().to_string()) && text.contains("16 MiB"), "{text}");
    // Exactly the cap is read (and then fails as text, not for its size).
    file.set_len(MAX_FILE_BYTES).expect("sized");
    assert!(!matches!(read_source(&path), Err(ReadError::TooLarge { .. })));
}

#[cfg(unix)]
#[test]
fn an_endless_device_costs_nothing_and_a_directory_is_named() {
    let error = read_source(std::path::Path::new("/dev/zero")).expect_err("refused");
    assert_eq!(error.to_string(), "/dev/zero: a device, not an architecture file");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let error = read_source(dir.path()).expect_err("refused");
    assert_eq!(error.to_string(), format!("{}: a directory, not an architecture file", dir.path().display()));
}
