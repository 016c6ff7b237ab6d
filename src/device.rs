//! Device choice (`--device auto|cpu|cuda|cuda:N`) and what `avc doctor` reports.

use tch::{Cuda, Device};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeviceError {
    #[error("unknown device `{0}`: expected auto, cpu, cuda or cuda:N")]
    Unknown(String),
    #[error("device `{requested}` was asked for, but {available}")]
    Unavailable { requested: String, available: String },
}

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    #[default]
    Auto,
    Cpu,
    Cuda(usize),
}

impl std::str::FromStr for DeviceChoice {
    type Err = DeviceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceChoice::Cuda)
                .ok_or_else(|| DeviceError::Unknown(other.to_string())),
        }
    }
}

impl DeviceChoice {
    /// Resolves to a real device: auto takes the first GPU when CUDA works, else the CPU.
    pub fn resolve(self) -> Result<Device, DeviceError> {
        let gpus = Cuda::device_count().max(0) as usize;
        match self {
            DeviceChoice::Auto if Cuda::is_available() => Ok(Device::Cuda(0)),
            DeviceChoice::Auto | DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Cuda(n) if Cuda::is_available() && n < gpus => Ok(Device::Cuda(n)),
            DeviceChoice::Cuda(n) => Err(DeviceError::Unavailable {
                requested: format!("cuda:{n}"),
                available: if gpus == 0 || !Cuda::is_available() {
                    "CUDA is not available (no GPU, or an NVIDIA driver too old for CUDA 13)".into()
                } else {
                    format!("only {gpus} GPU(s) are visible")
                },
            }),
        }
    }
}

/// How much memory a device has, in bytes, when it can be found out: for the CPU the
/// machine's memory (or the cgroup's limit, when lower); for a GPU its total memory, from
/// the CUDA driver. What `avc check` and `avc train` measure a model against before
/// libtorch allocates anything.
pub fn memory_bytes(device: Device) -> Option<u64> {
    match device {
        Device::Cpu => host_memory(),
        Device::Cuda(n) => cuda_memory(n),
        _ => None,
    }
}

/// MemTotal of /proc/meminfo, lowered to the cgroup's memory limit if there is one.
fn host_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = meminfo.lines().find_map(|l| l.strip_prefix("MemTotal:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    let total = kib.checked_mul(1024)?;
    let limit = ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok()?.trim().parse::<u64>().ok())
        .min();
    Some(limit.map_or(total, |l| l.min(total)))
}

/// The total memory of GPU `ordinal` from the CUDA driver library (loaded here: tch has no
/// memory query). `None` when the driver or the device is not there.
fn cuda_memory(ordinal: usize) -> Option<u64> {
    use std::ffi::{CStr, c_int, c_void};
    type Init = unsafe extern "C" fn(u32) -> c_int;
    type DeviceGet = unsafe extern "C" fn(*mut c_int, c_int) -> c_int;
    type TotalMem = unsafe extern "C" fn(*mut usize, c_int) -> c_int;
    let ordinal = c_int::try_from(ordinal).ok()?;
    // SAFETY: dlopen/dlsym are given NUL-terminated names; each symbol is called with the
    // signature the CUDA driver API documents for it, and only when it was found. The
    // library handle is never closed (libtorch keeps the driver loaded anyway).
    unsafe {
        let lib = libc::dlopen(c"libcuda.so.1".as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
        if lib.is_null() {
            return None;
        }
        let symbol = |name: &CStr| -> Option<*mut c_void> {
            let p = libc::dlsym(lib, name.as_ptr());
            (!p.is_null()).then_some(p)
        };
        let init: Init = std::mem::transmute(symbol(c"cuInit")?);
        let device_get: DeviceGet = std::mem::transmute(symbol(c"cuDeviceGet")?);
        let total_mem: TotalMem = std::mem::transmute(symbol(c"cuDeviceTotalMem_v2")?);
        let mut device: c_int = 0;
        let mut bytes: usize = 0;
        if init(0) != 0 || device_get(&mut device, ordinal) != 0 || total_mem(&mut bytes, device) != 0 {
            return None;
        }
        u64::try_from(bytes).ok()
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
        default_device: device_name(DeviceChoice::Auto.resolve().unwrap_or(Device::Cpu)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_words() {
        assert_eq!("auto".parse::<DeviceChoice>(), Ok(DeviceChoice::Auto));
        assert_eq!("cuda:1".parse::<DeviceChoice>(), Ok(DeviceChoice::Cuda(1)));
        assert!("tpu".parse::<DeviceChoice>().is_err());
        assert_eq!(DeviceChoice::Cpu.resolve(), Ok(Device::Cpu));
    }

    #[test]
    fn knows_the_host_memory() {
        let bytes = memory_bytes(Device::Cpu).expect("/proc/meminfo is readable on Linux");
        assert!(bytes > 256 << 20, "{bytes} bytes");
        // No GPU here, or one with some memory: never a made-up number.
        if let Some(gpu) = memory_bytes(Device::Cuda(0)) {
            assert!(gpu > 256 << 20);
        }
    }
}
