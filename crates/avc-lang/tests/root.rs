//! The language's integration tests, in one binary as the `avc` package's are. They need no
//! libtorch: `cargo test -p avc-lang` runs them on a machine without it.

mod architectures;
mod diagnostics;
mod dsl;
mod fmt;
mod graph;
mod lsp;
mod sizes;

/// The tests read `architectures/` and `tests/fixtures/` at the top of the repository (shared
/// with the `avc` package's tests) and their snapshots name files by those relative paths,
/// so every test first moves the process there; cargo starts it in `crates/avc-lang`.
pub fn at_workspace_root() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        std::env::set_current_dir(root).expect("the workspace root exists");
    });
}

/// Every architecture file (`.yaml` and `.avc`) in architectures/, sorted.
pub fn architecture_files() -> Vec<std::path::PathBuf> {
    at_workspace_root();
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir("architectures")
        .expect("architectures/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "avc")))
        .collect();
    files.sort();
    files
}

/// Compiles an architecture file, failing the test with the rendered diagnostics if it
/// does not compile.
pub fn compile_ok(path: &std::path::Path) -> avc_lang::compile::Compiled {
    match avc_lang::compile::compile_file(path).expect("readable") {
        Ok(c) => c,
        Err(failed) => panic!(
            "{} does not compile:\n{}",
            path.display(),
            avc_lang::diag::render_all(&failed.diagnostics, &failed.source, false)
        ),
    }
}
