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
}
