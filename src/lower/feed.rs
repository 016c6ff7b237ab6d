//! How data enters a lowered model: uint8 features are copied to the device as they are
//! (4x less traffic than float) and dequantized there, per batch.

use tch::{Device, Kind, Tensor};

/// The course's dequantization, `q * 4/255 + 4/512 - 2`, applied on the tensor's device.
/// In place after the conversion: a catalogue's chunk of clips is hundreds of megabytes,
/// and every fresh buffer of that size costs its page faults again.
pub fn dequantize(q: &Tensor) -> Result<Tensor, tch::TchError> {
    let mut x = q.f_to_kind(Kind::Float)?;
    let _ = x.f_mul_scalar_(4.0 / 255.0)?;
    let _ = x.f_add_scalar_(4.0 / 512.0 - 2.0)?;
    Ok(x)
}

/// Gathers clips `rows` of a row-major `[n, steps, dim]` uint8 array into a float tensor
/// `[rows.len(), steps, dim]` on `device`.
pub fn gather(data: &[u8], steps: usize, dim: usize, rows: &[usize], device: Device) -> Result<Tensor, tch::TchError> {
    let clip = steps * dim;
    let shape = [rows.len() as i64, steps as i64, dim as i64];
    let consecutive = rows.windows(2).all(|w| w[1] == w[0] + 1);
    let q = match (rows.first(), rows.last()) {
        // A run of clips (how catalogues are encoded) is one slice: copied once, not twice.
        (Some(&first), Some(&last)) if consecutive => Tensor::f_from_slice(&data[first * clip..(last + 1) * clip])?,
        _ => {
            let mut bytes = Vec::with_capacity(rows.len() * clip);
            for &r in rows {
                bytes.extend_from_slice(&data[r * clip..(r + 1) * clip]);
            }
            Tensor::f_from_slice(&bytes)?
        }
    }
    .f_reshape(shape)?;
    if device == Device::Cpu {
        return dequantize(&q);
    }
    // A copy from pageable memory is synchronous whatever the flag says: pin the (uint8,
    // four times smaller than float) batch first so the copy can overlap GPU work.
    let pinned = q.f_pin_memory(device)?;
    dequantize(&pinned.f_to_device_(device, Kind::Uint8, true, false)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both ways of gathering (a run of clips, scattered clips) give each value's
    /// dequantization (`data::dequantize`, the per-byte reference).
    #[test]
    fn gathered_clips_hold_their_dequantized_bytes() {
        let (steps, dim) = (3, 2);
        let data: Vec<u8> = (0..4 * steps * dim).map(|i| (i * 37 % 256) as u8).collect();
        for rows in [vec![1, 2, 3], vec![3, 0, 3]] {
            let x = gather(&data, steps, dim, &rows, Device::Cpu).unwrap();
            assert_eq!(x.size(), [rows.len() as i64, steps as i64, dim as i64]);
            let got = Vec::<f32>::try_from(x.flatten(0, -1)).unwrap();
            let clip = steps * dim;
            let want: Vec<f32> = rows
                .iter()
                .flat_map(|&r| data[r * clip..(r + 1) * clip].iter().map(|&q| crate::data::dequantize(q)))
                .collect();
            assert_eq!(got, want, "rows {rows:?}");
        }
    }
}
