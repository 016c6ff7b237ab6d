//! One bad file per error class (crates/avc-lang/tests/fixtures/err/): each must be rejected (or warned
//! about) with a message that names the place; the rendered diagnostics are snapshotted.

use std::path::PathBuf;

fn fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("crates/avc-lang/tests/fixtures/err")
        .expect("fixtures exist")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    files
}

/// Compiles a fixture and renders every diagnostic (errors, or warnings of a clean compile).
fn render(path: &std::path::Path) -> (bool, String) {
    let compiled = match avc_lang::compile::compile_file(path) {
        Ok(result) => result,
        // Files that cannot even be read as text fail before compiling (exit code 2).
        Err(read_error) => return (true, format!("{read_error}\n")),
    };
    match compiled {
        Ok(c) => (false, avc_lang::diag::render_all(&c.checked.diagnostics(), &c.graph.source, false)),
        Err(f) => (true, avc_lang::diag::render_all(&f.diagnostics, &f.source, false)),
    }
}

const WARNING_ONLY: [&str; 2] = ["unused_node", "bounded_logit"];

#[test]
fn every_bad_file_gets_a_located_diagnostic() {
    crate::at_workspace_root();
    for path in fixtures() {
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        let (failed, text) = render(&path);
        // These compile with warnings; every other fixture fails.
        let expect_failure = !WARNING_ONLY.contains(&stem.as_str());
        assert_eq!(failed, expect_failure, "{stem}: unexpected outcome:\n{text}");
        crate::assert_located(&text, &path, &stem);
        insta::assert_snapshot!(format!("diag_{stem}"), text);
    }
}

#[test]
fn a_failed_shape_check_still_shows_the_table_up_to_the_failure() {
    crate::at_workspace_root();
    let failed =
        match avc_lang::compile::compile_file(&PathBuf::from("crates/avc-lang/tests/fixtures/err/shape_concat.yaml"))
            .unwrap()
        {
            Ok(_) => panic!("shape_concat.yaml must fail"),
            Err(f) => f,
        };
    let (graph, checked) = failed.partial.as_ref().expect("the graph was built");
    let table = avc_lang::check::render_table(graph, checked);
    assert!(table.contains("[B, 60, 1024]"), "the pooled video shape is shown:\n{table}");
    assert!(table.contains("error (see below)"), "the failing node is marked:\n{table}");
}

/// The location check itself fails on a message that names the file without a place, or a
/// place outside the file.
#[test]
fn the_location_check_rejects_a_missing_or_impossible_place() {
    crate::at_workspace_root();
    let path = std::path::Path::new("architectures/final.avc");
    for text in ["architectures/final.avc: error: x\n", "architectures/final.avc:9999:1: error: x\n", "error: x\n"] {
        let caught = std::panic::catch_unwind(|| crate::assert_located(text, path, "probe"));
        assert!(caught.is_err(), "accepted {text:?}");
    }
    crate::assert_located("architectures/final.avc:1:1: error: x\n", path, "probe");
}
