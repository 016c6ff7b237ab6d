//! `--device auto|cpu|cuda|gpu|cuda:N`, read the same way by every command of every binary
//! (`avc check --device` measures memory against it; the torch side resolves it to a
//! libtorch device).

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    #[default]
    Auto,
    Cpu,
    Cuda(usize),
}

/// A `--device` word that names no device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown device `{0}`: expected auto, cpu, cuda (or gpu) or cuda:N")]
pub struct UnknownDevice(pub String);

impl std::str::FromStr for DeviceChoice {
    type Err = UnknownDevice;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .or_else(|| other.strip_prefix("gpu:"))
                .and_then(|n| n.parse().ok())
                .map(DeviceChoice::Cuda)
                .ok_or_else(|| UnknownDevice(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_reads_the_same() {
        for (word, choice) in [
            ("auto", DeviceChoice::Auto),
            ("cpu", DeviceChoice::Cpu),
            ("cuda", DeviceChoice::Cuda(0)),
            ("gpu", DeviceChoice::Cuda(0)),
            ("cuda:2", DeviceChoice::Cuda(2)),
            ("gpu:1", DeviceChoice::Cuda(1)),
        ] {
            assert_eq!(word.parse::<DeviceChoice>(), Ok(choice), "{word}");
        }
        for bad in ["tpu", "cuda:", "cuda:-1", "cuda:x", ""] {
            assert!(bad.parse::<DeviceChoice>().is_err(), "{bad}");
        }
    }
}
