//! The one integration-test binary (every tch-linked binary costs seconds to link).

mod architectures;
mod checkpoints;
mod data_fuzz;
mod data_ids;
mod data_sources;
mod data_tools;
mod docs;
mod eval;
mod export;
mod interrupt;
mod kill;
mod light;
mod losses;
mod lowering;
mod messages;
mod model_sizes;
mod op_semantics;
mod ops;
mod output_safety;
mod profile;
mod run_outputs;
pub use run_outputs::venv_python;
mod split;
mod summaries;
mod sweep;
mod sweep_engines;
mod training;

/// libtorch's random generator is global to the process: tests that seed it or draw from
/// it (initialisation, dropout, random inputs) hold this lock, so tests running in
/// parallel threads cannot perturb each other's random streams.
pub fn torch_rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Every architecture file (`.yaml` and `.avc`) in architectures/, sorted.
pub fn architecture_files() -> Vec<std::path::PathBuf> {
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

/// A small pair model on `[24, 16]` video and `[24, 8]` audio (the tiny synthetic data's
/// shapes): projections, a joint LSTM of `width`, max over time, a logit. `train` is the
/// file's `train:` mapping, e.g. `{epochs: 2, batch_size: 8}`.
pub fn small_model(width: usize, train: &str) -> String {
    format!(
        "
inputs: {{video: [24, 16], audio: [24, 8]}}
nodes:
  - {{name: vproj, op: linear, in: video, out: {width}}}
  - {{name: aproj, op: linear, in: audio, out: {width}}}
  - {{name: joint, op: concat, in: [vproj, aproj]}}
  - {{name: rnn, op: lstm, in: joint, hidden: {width}}}
  - {{name: pooled, op: max, in: rnn}}
  - {{name: head, op: linear, in: pooled, out: 1}}
outputs:
  - {{name: match, kind: logit, from: head}}
train: {train}
"
    )
}

/// A test's scratch directory: a fresh `tempfile` directory named after the test, removed
/// when dropped, also when the test fails part-way. It reads as the `Path` it is.
pub struct Scratch(tempfile::TempDir);

impl std::ops::Deref for Scratch {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        self.0.path()
    }
}

impl AsRef<std::path::Path> for Scratch {
    fn as_ref(&self) -> &std::path::Path {
        self.0.path()
    }
}

pub fn scratch_dir(name: &str) -> Scratch {
    let dir = tempfile::Builder::new().prefix(&format!("avc-test-{name}-")).tempdir();
    Scratch(dir.expect("a scratch directory under the system's temporary directory"))
}
