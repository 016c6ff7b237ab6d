//! The machine: how much memory a device can give a model, found without libtorch, so that `avc check`
//! in the light binary measures a model against the same number `avc train` does: the
//! CPU's memory available now (within the cgroup's limit), a GPU's total memory from the
//! CUDA driver, or a size given on the command line.

use crate::check::memory::Budget;

/// Where a model will run, as `--device` names it: `auto` (the first GPU when the CUDA
/// driver finds one, else the CPU), `cpu`, `cuda` or `cuda:N`.
pub fn budget_for(device: &str) -> Result<Option<Budget>, String> {
    use crate::device::DeviceChoice;
    let (cpu, gpu) = (cpu_budget, cuda_budget);
    match device.parse::<DeviceChoice>().map_err(|e| format!("--device: {e}"))? {
        DeviceChoice::Auto => Ok(gpu(0).or_else(cpu)),
        DeviceChoice::Cpu => Ok(cpu()),
        DeviceChoice::Cuda(n) => {
            gpu(n).map(Some).ok_or_else(|| format!("--device {}: no CUDA device {n} was found", device.trim()))
        }
    }
}

/// The CPU's memory available now, as a budget (`None` where it cannot be read).
pub fn cpu_budget() -> Option<Budget> {
    host_memory().map(|bytes| Budget { bytes, source: "memory available now on the cpu".into() })
}

/// GPU `n`'s total memory, as a budget (`None` without the driver or the device).
pub fn cuda_budget(n: usize) -> Option<Budget> {
    cuda_memory(n).map(|bytes| Budget { bytes, source: format!("memory of cuda:{n}") })
}

/// A size such as `512M`, `4G` or `1.5GiB` in bytes (binary units; a bare number is bytes).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (number, unit) = t.split_at(t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len()));
    let scale: u64 = match unit.to_ascii_uppercase().trim_end_matches("IB").trim_end_matches('B') {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return Err(format!("{text}: expected a size such as 512M or 4G")),
    };
    match number.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 && n * (scale as f64) < 1e19 => Ok((n * scale as f64) as u64),
        _ => Err(format!("{text}: expected a positive size such as 512M or 4G")),
    }
}

/// MemAvailable of /proc/meminfo, lowered to the cgroup's limit less its usage when that
/// is smaller (a container sees the host's meminfo).
pub fn host_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib = meminfo.lines().find_map(|l| l.strip_prefix("MemAvailable:"))?;
    let available = kib.trim().trim_end_matches("kB").trim().parse::<u64>().ok()?.checked_mul(1024)?;
    let read = |p: &str| std::fs::read_to_string(p).ok()?.trim().parse::<u64>().ok();
    let cgroup = [
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ]
    .iter()
    .filter_map(|(limit, usage)| Some(read(limit)?.saturating_sub(read(usage).unwrap_or(0))))
    .min();
    Some(cgroup.map_or(available, |left| left.min(available)))
}

/// The total memory of GPU `ordinal` from the CUDA driver library, loaded here (tch has no
/// memory query, and the light binary has no libtorch). `None` when the driver or the
/// device is not there.
pub fn cuda_memory(ordinal: usize) -> Option<u64> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_the_host_memory_and_refuses_unknown_devices() {
        let bytes = host_memory().expect("/proc/meminfo is readable on Linux");
        assert!(bytes > 16 << 20, "{bytes} bytes");
        // No GPU here, or one with some memory: never a made-up number.
        if let Some(gpu) = cuda_memory(0) {
            assert!(gpu > 256 << 20);
        }
        assert_eq!(budget_for("cpu").unwrap().map(|b| b.source), Some("memory available now on the cpu".into()));
        assert!(budget_for("tpu").unwrap_err().contains("expected auto, cpu, cuda (or gpu) or cuda:N"));
        assert_eq!(budget_for("gpu").is_ok(), budget_for("cuda").is_ok(), "gpu is cuda, as for avc train");
        assert!(budget_for("cuda:99").is_err());
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("0").is_err() && parse_size("12Q").is_err() && parse_size("-1G").is_err());
    }
}
