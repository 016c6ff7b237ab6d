//! Device choice (`--device auto|cpu|cuda|cuda:N`), the thread count, and what `avc doctor`
//! reports.
//!
//! On a cluster the scheduler hands a task its share of the machine through the environment:
//! `CUDA_VISIBLE_DEVICES` names the GPUs it may use (CUDA numbers them from 0, so `auto`'s
//! `cuda:0` is the first GPU Slurm gave the task), and `SLURM_CPUS_PER_TASK` or
//! `OMP_NUM_THREADS` the CPUs. [`apply_thread_budget`] makes libtorch use that many threads;
//! [`Resources`] says what a run used, for its manifest.

use tch::{Cuda, Device};

pub use avc_lang::device::{DeviceChoice, UnknownDevice};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeviceError {
    #[error(transparent)]
    Unknown(#[from] UnknownDevice),
    #[error("device `{requested}` was asked for, but {available}")]
    Unavailable { requested: String, available: String },
}

/// `--device TEXT` read ([`DeviceChoice`], the language crate's, so every binary reads it
/// alike) and resolved to a libtorch device.
pub fn choose(text: &str) -> Result<Device, DeviceError> {
    resolve(text.parse::<DeviceChoice>()?)
}

/// Resolves a choice to a real device: auto takes the first GPU when CUDA works, else the
/// CPU. GPUs are those `CUDA_VISIBLE_DEVICES` leaves visible, numbered from 0 (CUDA's rule).
pub fn resolve(choice: DeviceChoice) -> Result<Device, DeviceError> {
    let gpus = Cuda::device_count().max(0) as usize;
    match choice {
        DeviceChoice::Auto if Cuda::is_available() => Ok(Device::Cuda(0)),
        DeviceChoice::Auto | DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Cuda(n) if Cuda::is_available() && n < gpus => Ok(Device::Cuda(n)),
        DeviceChoice::Cuda(n) => Err(DeviceError::Unavailable {
            requested: format!("cuda:{n}"),
            available: match (gpus == 0 || !Cuda::is_available(), visible_devices()) {
                (true, Some(v)) => format!("CUDA sees no GPU (CUDA_VISIBLE_DEVICES={v})"),
                (true, None) => "CUDA is not available (no GPU, or an NVIDIA driver too old for CUDA 13)".into(),
                (false, Some(v)) => format!("only {gpus} GPU(s) are visible (CUDA_VISIBLE_DEVICES={v})"),
                (false, None) => format!("only {gpus} GPU(s) are visible"),
            },
        }),
    }
}

/// How much memory a device can give a model, in bytes, when it can be found out: for the
/// CPU the memory available now (lowered to what the cgroup's limit leaves, when there is
/// one); for a GPU its total memory, from the CUDA driver. What `avc check` and `avc train`
/// measure a model against before libtorch allocates anything.
pub fn memory_bytes(device: Device) -> Option<u64> {
    memory_budget(device).map(|b| b.bytes)
}

/// The memory a model on `device` is measured against (`avc check`, `avc train`), with
/// where the number comes from; `None` when it cannot be found out. The same query as the
/// light `avc check --device` (`avc_lang::host`).
pub fn memory_budget(device: Device) -> Option<avc_lang::check::memory::Budget> {
    match device {
        Device::Cpu => avc_lang::host::cpu_budget(),
        Device::Cuda(n) => avc_lang::host::cuda_budget(n),
        _ => None,
    }
}

/// A one-word name for logs and manifests: `cpu`, `cuda:0`.
pub fn device_name(d: Device) -> String {
    match d {
        Device::Cpu => "cpu".into(),
        Device::Cuda(n) => format!("cuda:{n}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// `CUDA_VISIBLE_DEVICES` as set (Slurm sets it for a task that asked for GPUs).
pub fn visible_devices() -> Option<String> {
    std::env::var("CUDA_VISIBLE_DEVICES").ok()
}

/// How many threads libtorch uses for a run, and what decided it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ThreadBudget {
    pub threads: i32,
    /// `OMP_NUM_THREADS=4`, `SLURM_CPUS_PER_TASK=8`, or `libtorch default` (all cores),
    /// with a note when a variable was set but unusable.
    pub from: String,
}

/// The thread count the environment asks for: `OMP_NUM_THREADS` when set (the user's or the
/// job script's explicit choice, which libtorch's OpenMP reads too), else the CPUs Slurm
/// allotted (`SLURM_CPUS_PER_TASK`); None leaves libtorch's default. The second value says
/// which variable decided, or why a set one was ignored.
pub fn threads_wanted(omp: Option<&str>, slurm_cpus: Option<&str>) -> (Option<i32>, String) {
    let mut ignored = Vec::new();
    for (name, value) in [("OMP_NUM_THREADS", omp), ("SLURM_CPUS_PER_TASK", slurm_cpus)] {
        let Some(value) = value else { continue };
        match value.trim().parse::<i32>() {
            Ok(n) if n > 0 => {
                let notes = ignored.iter().map(|i| format!("; {i}")).collect::<String>();
                return (Some(n), format!("{name}={n}{notes}"));
            }
            _ => ignored.push(format!("{name}={value} ignored: not a positive whole number")),
        }
    }
    let notes = ignored.iter().map(|i| format!("; {i}")).collect::<String>();
    (None, format!("libtorch default{notes}"))
}

/// Sets libtorch's thread count from the environment ([`threads_wanted`]) and says what it
/// uses. Training calls it first, so `avc train` inside a Slurm task or a GNU parallel job
/// uses the CPUs it was given instead of every core of the node.
pub fn apply_thread_budget() -> ThreadBudget {
    let var = |name: &str| std::env::var(name).ok();
    let (wanted, from) = threads_wanted(var("OMP_NUM_THREADS").as_deref(), var("SLURM_CPUS_PER_TASK").as_deref());
    if let Some(n) = wanted
        && tch::get_num_threads() != n
    {
        tch::set_num_threads(n);
    }
    ThreadBudget { threads: tch::get_num_threads(), from }
}

/// What a run used, for its manifest: the device, the GPUs the scheduler left visible, the
/// threads, and where it ran (host, Slurm job).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Resources {
    pub device: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cuda_visible_devices: Option<String>,
    pub threads: i32,
    pub threads_from: String,
    pub host: String,
    /// `SLURM_JOB_ID` (and the array job and task when it is an array task).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slurm_job: Option<String>,
}

impl Resources {
    /// Reads the environment once the threads are applied.
    pub fn current(device: Device, budget: &ThreadBudget) -> Resources {
        Resources {
            device: device_name(device),
            cuda_visible_devices: visible_devices(),
            threads: budget.threads,
            threads_from: budget.from.clone(),
            host: host_name(),
            slurm_job: slurm_job(),
        }
    }
}

/// `1234`, or `1230_4` for task 4 of array job 1230 (Slurm's own notation).
pub fn slurm_job() -> Option<String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match (var("SLURM_ARRAY_JOB_ID"), var("SLURM_ARRAY_TASK_ID"), var("SLURM_JOB_ID")) {
        (Some(array), Some(task), _) => Some(format!("{array}_{task}")),
        (_, _, job) => job,
    }
}

/// This machine's name (Linux's kernel record; `HOSTNAME` elsewhere).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The facts `avc doctor` prints.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Environment {
    pub avc_version: &'static str,
    pub libtorch_version: String,
    pub cuda_available: bool,
    pub cudnn_available: bool,
    pub gpus: i64,
    pub threads: i32,
    pub default_device: String,
}

/// The libtorch version this binary was built against (tch pins it).
pub const LIBTORCH_VERSION: &str = "2.13.0";

pub fn environment() -> Environment {
    let cuda = Cuda::is_available();
    Environment {
        avc_version: env!("CARGO_PKG_VERSION"),
        libtorch_version: LIBTORCH_VERSION.to_string(),
        cuda_available: cuda,
        cudnn_available: Cuda::cudnn_is_available(),
        gpus: if cuda { Cuda::device_count() } else { 0 },
        threads: tch::get_num_threads(),
        default_device: device_name(resolve(DeviceChoice::Auto).unwrap_or(Device::Cpu)),
    }
}

/// glibc's thresholds: freed blocks up to this size go back to the heap for reuse, not to
/// the kernel.
const MMAP_THRESHOLD: usize = 256 << 20;
/// Free memory at the top of the heap kept for reuse before glibc returns it.
const TRIM_THRESHOLD: usize = 1 << 30;

/// The environment that gives another process (a PyTorch run to compare with) the same
/// allocator settings as [`keep_freed_tensor_memory`].
pub fn malloc_environment() -> [(&'static str, String); 2] {
    [("MALLOC_MMAP_THRESHOLD_", MMAP_THRESHOLD.to_string()), ("MALLOC_TRIM_THRESHOLD_", TRIM_THRESHOLD.to_string())]
}

/// Makes glibc keep freed tensor buffers for reuse instead of returning them to the kernel.
///
/// libtorch allocates every CPU tensor with `malloc`. By default glibc serves blocks above
/// its mmap threshold (128 KiB, raised as blocks are freed, at most 32 MiB) with a fresh
/// `mmap` and unmaps them when freed, and trims the heap's free top above 128 KiB: a
/// training step of `final` allocates and frees hundreds of such buffers (activations,
/// gates, gradients), so each step paid page faults and zeroing for memory it had just
/// given back (a fifth of a step in `perf`). With these thresholds a step measured 254 ms ->
/// 205 ms (2 threads; docs/performance.md). The price is that the process keeps its peak
/// heap instead of shrinking after it, which a trainer or an evaluation holds anyway.
///
/// Returns whether the settings were made: not when `MALLOC_MMAP_THRESHOLD_` or
/// `MALLOC_TRIM_THRESHOLD_` is in the environment (the user's choice stands), nor off glibc.
/// The CLI calls it once at start; a library caller decides for its own process.
pub fn keep_freed_tensor_memory() -> bool {
    let set_by_user =
        ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"].iter().any(|v| std::env::var_os(v).is_some());
    !set_by_user && set_malloc_thresholds()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_malloc_thresholds() -> bool {
    // SAFETY: mallopt only changes glibc's allocation parameters; it is called before the
    // CLI starts any thread and takes the allocator's lock itself.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD as libc::c_int) == 1
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_malloc_thresholds() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_words() {
        assert_eq!("auto".parse::<DeviceChoice>(), Ok(DeviceChoice::Auto));
        assert_eq!("cuda:1".parse::<DeviceChoice>(), Ok(DeviceChoice::Cuda(1)));
        assert!("tpu".parse::<DeviceChoice>().is_err());
        assert_eq!(resolve(DeviceChoice::Cpu), Ok(Device::Cpu));
    }

    #[test]
    fn knows_the_host_memory() {
        let bytes = memory_bytes(Device::Cpu).expect("/proc/meminfo is readable on Linux");
        assert!(bytes > 16 << 20, "{bytes} bytes");
        // No GPU here, or one with some memory: never a made-up number.
        if let Some(gpu) = memory_bytes(Device::Cuda(0)) {
            assert!(gpu > 256 << 20);
        }
    }

    #[test]
    fn threads_follow_omp_then_slurm() {
        assert_eq!(threads_wanted(Some("3"), Some("8")), (Some(3), "OMP_NUM_THREADS=3".into()));
        assert_eq!(threads_wanted(None, Some("8")), (Some(8), "SLURM_CPUS_PER_TASK=8".into()));
        assert_eq!(threads_wanted(None, None), (None, "libtorch default".into()));
        let (n, from) = threads_wanted(Some("many"), Some("2"));
        assert_eq!(n, Some(2));
        assert_eq!(from, "SLURM_CPUS_PER_TASK=2; OMP_NUM_THREADS=many ignored: not a positive whole number");
        let (n, from) = threads_wanted(Some("0"), None);
        assert_eq!(n, None);
        assert!(from.starts_with("libtorch default; OMP_NUM_THREADS=0 ignored"), "{from}");
    }
}
