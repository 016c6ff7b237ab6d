//! How data enters a lowered model: uint8 features are copied to the device as they are
//! (4x less traffic than float) and dequantized there, per batch.

use tch::{Device, Kind, Tensor};

/// The course's dequantization, `q * 4/255 + 4/512 - 2`, applied on the tensor's device.
pub fn dequantize(q: &Tensor) -> Result<Tensor, tch::TchError> {
    q.f_to_kind(Kind::Float)?.f_mul_scalar(4.0 / 255.0)?.f_add_scalar(4.0 / 512.0 - 2.0)
}

/// Gathers clips `rows` of a row-major `[n, steps, dim]` uint8 array into a float tensor
/// `[rows.len(), steps, dim]` on `device`.
pub fn gather(data: &[u8], steps: usize, dim: usize, rows: &[usize], device: Device) -> Result<Tensor, tch::TchError> {
    let clip = steps * dim;
    let mut bytes = Vec::with_capacity(rows.len() * clip);
    for &r in rows {
        bytes.extend_from_slice(&data[r * clip..(r + 1) * clip]);
    }
    let q = Tensor::f_from_slice(&bytes)?.f_reshape([rows.len() as i64, steps as i64, dim as i64])?;
    if device == Device::Cpu {
        return dequantize(&q);
    }
    // A copy from pageable memory is synchronous whatever the flag says: pin the (uint8,
    // four times smaller than float) batch first so the copy can overlap GPU work.
    let pinned = q.f_pin_memory(device)?;
    dequantize(&pinned.f_to_device_(device, Kind::Uint8, true, false)?)
}
