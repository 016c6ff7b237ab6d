//! The one integration-test binary (every tch-linked binary costs seconds to link).

mod architectures;
mod checkpoints;
mod data_fuzz;
mod data_ids;
mod data_sources;
mod data_tools;
mod designs;
mod dist;
mod docs;
mod eval;
mod export;
mod export_onnx;
mod export_torch;
mod interrupt;
mod kill;
mod light;
mod loss_grads;
mod losses;
mod lowering;
mod messages;
mod model_sizes;
mod op_semantics;
mod ops;
mod output_safety;
mod precision;
mod profile;
mod reports;
mod run_outputs;
pub use run_outputs::venv_python;
mod factor;
mod lengths;
mod masks;
mod summaries;
mod sweep;
mod sweep_engines;
mod sweep_ranks;
mod torch_grads;
mod torch_grads_arith;
mod torch_grads_ops;
mod torch_grads_parts;
mod torch_grads_sync;
mod training;
mod training_knobs;

/// libtorch's random generator is global to the process: tests that seed it or draw from
/// it (initialisation, dropout, random inputs) hold this lock, so tests running in
/// parallel threads cannot perturb each other's random streams.
pub fn torch_rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Where architecture files live: the shipped ones, and those kept for the synthetic data
/// only (architectures/synthetic-only/README.md: they stay at chance on recordings).
pub const ARCHITECTURE_DIRS: [&str; 2] = ["architectures", "architectures/synthetic-only"];

/// Every architecture file (`.yaml` and `.avc`) in both folders, each folder sorted.
pub fn architecture_files() -> Vec<std::path::PathBuf> {
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

/// A seeded generator for the property and fuzz tests (SplitMix64, avc's own:
/// `avc::random`), so a failure reproduces from the seed and case number alone.
pub struct Gen(pub u64);

impl Gen {
    pub fn draw(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(avc::random::GAMMA);
        avc::random::finish(self.0)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.draw() % n.max(1) as u64) as usize
    }
}

/// Every file under `dir` with its bytes, but the marker `convert` leaves in its outputs
/// (docs/safety.md), which `course::write` does not write.
pub fn data_tree(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name() != Some(std::ffi::OsStr::new(avc_lang::output::MARKER)) {
                out.push((p.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}
