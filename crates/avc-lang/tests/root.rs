//! The language's integration tests, in one binary as the `avc` package's are. They need no
//! libtorch: `cargo test -p avc-lang` runs them on a machine without it.

mod architectures;
mod diagnostics;
mod dsl;
mod fmt;
mod from_pytorch;
mod fuzz;
mod graph;
mod lsp;
mod lsp_frames;
mod messages;
mod model_sizes;
mod pipes;
mod reads;
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

/// Where architecture files live: the shipped ones, and those kept for the synthetic data
/// only (architectures/synthetic-only/README.md: they stay at chance on recordings).
pub const ARCHITECTURE_DIRS: [&str; 2] = ["architectures", "architectures/synthetic-only"];

/// Every architecture file (`.yaml` and `.avc`) in both folders, each folder sorted.
pub fn architecture_files() -> Vec<std::path::PathBuf> {
    at_workspace_root();
    let mut all = Vec::new();
    for dir in ARCHITECTURE_DIRS {
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "avc")))
            .collect();
        files.sort();
        all.extend(files);
    }
    all
}

/// The path of an architecture file named without its folder (`dual_cnn.avc`).
pub fn architecture_path(file: &str) -> std::path::PathBuf {
    at_workspace_root();
    ARCHITECTURE_DIRS
        .iter()
        .map(|dir| std::path::Path::new(dir).join(file))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{file} is in none of {ARCHITECTURE_DIRS:?}"))
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

/// Checks that `text` (rendered diagnostics for the file at `path`) opens with
/// `path:LINE:COLUMN: ` and that every header naming the file so gives a real place in it: a
/// line number from 1 to the file's line count, a column from 1 to that line's length + 1.
pub fn assert_located(text: &str, path: &std::path::Path, what: &str) {
    let file = String::from_utf8_lossy(&std::fs::read(path).expect("readable fixture")).into_owned();
    let lines: Vec<&str> = file.split('\n').collect();
    let prefix = format!("{}:", path.display());
    // Headers are `path:LINE:COLUMN: severity...`; the closing count line is `path: N errors`.
    let is_header = |l: &&str| l.strip_prefix(&prefix).is_some_and(|rest| !rest.starts_with(' '));
    let first = text.lines().next().unwrap_or_default();
    assert!(is_header(&first), "{what}: the message does not start with `{prefix}LINE:COLUMN`:\n{text}");
    for header in text.lines().filter(is_header) {
        let mut parts = header[prefix.len()..].splitn(3, ':');
        let number = |p: Option<&str>| p.and_then(|n| n.parse::<usize>().ok());
        let (line, column) = match (number(parts.next()), number(parts.next())) {
            (Some(l), Some(c)) => (l, c),
            _ => panic!("{what}: `{header}` has no LINE:COLUMN after the file name"),
        };
        assert!((1..=lines.len()).contains(&line), "{what}: line {line} is outside the file ({} lines)", lines.len());
        let width = lines[line - 1].len() + 1;
        assert!((1..=width).contains(&column), "{what}: column {column} is outside line {line} ({width} columns)");
    }
}
