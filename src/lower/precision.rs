//! Mixed precision: the forward pass under autocast, as `torch.autocast` runs it. Inside a
//! region libtorch runs the ops of its lower-precision list (matrix products, convolutions,
//! linear layers, recurrent cells) in bf16 or fp16, keeps those of its fp32 list (softmax,
//! log-softmax, norms, sums, exp and log, the losses) in fp32 and lets the rest follow their
//! inputs. The weights stay fp32; what leaves the model is returned as fp32.
//!
//! tch switches only CUDA's autocast; the CPU's (bf16 on AMX and AVX-512 BF16 units) goes
//! through a few lines of C++ (src/shim/autocast.cpp, compiled by build.rs). Autocast is a
//! per-thread state in libtorch, so each worker thread of evaluation enters its own region.

pub use avc_lang::settings::Precision;
use tch::{Device, Kind, TchError, Tensor};

unsafe extern "C" {
    fn avc_autocast_enter(device: i32, kind: i32) -> i32;
    fn avc_autocast_exit(device: i32, previous: i32) -> i32;
    fn avc_autocast_enabled(device: i32) -> i32;
}

/// Why a precision cannot run where it was asked for.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PrecisionError {
    #[error(
        "precision fp16 needs a CUDA device (its loss scaling and kernels are CUDA's); on the CPU use `bf16`, which \
         needs no loss scaling"
    )]
    Fp16OnCpu,
    #[error("libtorch refused to {0} an autocast region")]
    Refused(&'static str),
}

/// An autocast region on this thread; dropping it restores the state before it.
#[must_use = "the region ends when the guard is dropped"]
pub struct Autocast {
    device: i32,
    previous: i32,
}

impl Autocast {
    /// Enters a region for `precision` on `device`'s type; `None` for fp32 (nothing to do).
    pub fn enter(precision: Precision, device: Device) -> Result<Option<Autocast>, PrecisionError> {
        let device_type = if device.is_cuda() { 1 } else { 0 };
        let kind = match precision {
            Precision::Fp32 => return Ok(None),
            Precision::Bf16 => 0,
            Precision::Fp16 if device_type == 0 => return Err(PrecisionError::Fp16OnCpu),
            Precision::Fp16 => 1,
        };
        // SAFETY: plain ints cross; the C++ side catches every exception.
        let previous = unsafe { avc_autocast_enter(device_type, kind) };
        if previous < 0 {
            return Err(PrecisionError::Refused("enter"));
        }
        Ok(Some(Autocast { device: device_type, previous }))
    }

    /// Whether autocast is on for `device`'s type on this thread.
    pub fn is_on(device: Device) -> bool {
        // SAFETY: as above.
        unsafe { avc_autocast_enabled(if device.is_cuda() { 1 } else { 0 }) == 1 }
    }
}

impl Drop for Autocast {
    fn drop(&mut self) {
        // SAFETY: as above. A failure here cannot be reported from drop; the next region's
        // enter would report libtorch's state as refused.
        let _ = unsafe { avc_autocast_exit(self.device, self.previous) };
    }
}

impl Autocast {
    /// Inside an autocast region, a region where autocast is off (as `torch.autocast(...,
    /// enabled=False)`), for the values that must be computed in fp32: `None` when autocast
    /// is off already. Cast the inputs with [`to_fp32`] too: values made in the outer
    /// region may be bf16.
    pub fn suspend(device: Device) -> Result<Option<Autocast>, PrecisionError> {
        if !Autocast::is_on(device) {
            return Ok(None);
        }
        let device_type = if device.is_cuda() { 1 } else { 0 };
        // SAFETY: as in `enter`.
        let previous = unsafe { avc_autocast_enter(device_type, -1) };
        if previous < 0 {
            return Err(PrecisionError::Refused("suspend"));
        }
        Ok(Some(Autocast { device: device_type, previous }))
    }
}

/// Runs `f` on `xs` in fp32 whatever the region around it: autocast suspended and the
/// inputs cast to fp32 (the ops whose reductions must not lose precision: cosine,
/// L2 distance, lagged cosine, softmax). Without autocast around it, `f` on `xs` as they are.
pub fn in_fp32<R>(xs: &[&Tensor], f: impl FnOnce(&[&Tensor]) -> Result<R, TchError>) -> Result<R, TchError> {
    let Some(first) = xs.first() else { return f(xs) };
    let reduced = xs.iter().any(|x| matches!(x.kind(), Kind::BFloat16 | Kind::Half));
    if !reduced && !Autocast::is_on(first.device()) {
        return f(xs);
    }
    let _off = Autocast::suspend(first.device()).map_err(|e| TchError::Kind(e.to_string()))?;
    let cast: Vec<Tensor> = xs.iter().map(|x| to_fp32(x.shallow_clone())).collect::<Result<_, _>>()?;
    let refs: Vec<&Tensor> = cast.iter().collect();
    f(&refs)
}

/// Checks that `precision` can run on `device` (fp16 only on CUDA), before anything runs.
pub fn check(precision: Precision, device: Device) -> Result<(), PrecisionError> {
    match precision {
        Precision::Fp16 if !device.is_cuda() => Err(PrecisionError::Fp16OnCpu),
        _ => Ok(()),
    }
}

/// A floating-point tensor as fp32 (a reduced-precision output of an autocast region);
/// other tensors as they are.
pub fn to_fp32(t: Tensor) -> Result<Tensor, TchError> {
    match t.kind() {
        Kind::BFloat16 | Kind::Half => t.f_to_kind(Kind::Float),
        _ => Ok(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_runs_matrix_products_in_bf16_keeps_softmax_in_fp32_and_ends_with_its_guard() {
        let a = Tensor::randn([4, 8], (Kind::Float, Device::Cpu));
        let b = Tensor::randn([8, 3], (Kind::Float, Device::Cpu));
        assert!(!Autocast::is_on(Device::Cpu));
        {
            let _region = Autocast::enter(Precision::Bf16, Device::Cpu).unwrap();
            assert!(Autocast::is_on(Device::Cpu));
            let product = a.matmul(&b);
            assert_eq!(product.kind(), Kind::BFloat16);
            // On the CPU's fp32 list: a loss, computed in fp32 from the bf16 product. Softmax
            // is not on it (on CUDA it is): the ops that must reduce in fp32 cast themselves.
            let zeros = product.zeros_like();
            assert_eq!(product.mse_loss(&zeros, tch::Reduction::Mean).kind(), Kind::Float);
            assert_eq!(product.softmax(-1, None::<Kind>).kind(), Kind::BFloat16);
            assert_eq!(to_fp32(product).unwrap().kind(), Kind::Float);
        }
        assert!(!Autocast::is_on(Device::Cpu));
        assert_eq!(a.matmul(&b).kind(), Kind::Float);
        // An fp32 op inside a region: autocast off for its inputs, on again after it.
        let _region = Autocast::enter(Precision::Bf16, Device::Cpu).unwrap();
        let low = a.matmul(&b);
        let exact = in_fp32(&[&low, &b.transpose(0, 1)], |xs| xs[0].f_matmul(xs[1])).unwrap();
        assert_eq!(exact.kind(), Kind::Float);
        assert!(Autocast::is_on(Device::Cpu));
        assert!(Autocast::enter(Precision::Fp32, Device::Cpu).unwrap().is_none());
        assert_eq!(Autocast::enter(Precision::Fp16, Device::Cpu).err(), Some(PrecisionError::Fp16OnCpu));
    }
}
