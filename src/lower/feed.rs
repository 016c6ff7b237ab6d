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

/// The 256 dequantized levels, as [`dequantize`]'s kernels compute them: a table through
/// which plain Rust code gives exactly the same values. Computed once per process (every
/// encode call of a catalogue and every training epoch asks for it).
pub fn levels() -> Result<[f32; 256], tch::TchError> {
    static LEVELS: std::sync::OnceLock<[f32; 256]> = std::sync::OnceLock::new();
    if let Some(levels) = LEVELS.get() {
        return Ok(*levels);
    }
    let q: Vec<u8> = (0..=255).collect();
    let x = dequantize(&Tensor::f_from_slice(&q)?)?;
    let v = Vec::<f32>::try_from(&x)?;
    let mut out = [0.0; 256];
    out.copy_from_slice(&v);
    Ok(*LEVELS.get_or_init(|| out))
}

/// `bytes` (row-major `shape`) dequantized through `levels` into a new CPU float tensor,
/// written in place: an allocation and one pass, no libtorch kernel (the training prefetch
/// threads run none), where [`dequantize`] makes three passes over the floats.
pub fn dequantize_bytes(bytes: &[u8], shape: &[i64], levels: &[f32; 256]) -> Result<Tensor, tch::TchError> {
    let numel = shape.iter().product::<i64>();
    if numel != bytes.len() as i64 {
        return Err(tch::TchError::Shape(format!("{} bytes for clips of shape {shape:?}", bytes.len())));
    }
    let tensor = Tensor::f_empty(shape, (Kind::Float, Device::Cpu))?;
    if numel == 0 {
        return Ok(tensor);
    }
    // SAFETY: `tensor` was just allocated by `empty` as a contiguous float tensor of `numel`
    // elements (non-zero, so its data pointer is valid and aligned for f32), and nothing else
    // refers to it until this function returns it.
    let out = unsafe { std::slice::from_raw_parts_mut(tensor.data_ptr().cast::<f32>(), numel as usize) };
    for (x, &q) in out.iter_mut().zip(bytes) {
        *x = levels[usize::from(q)];
    }
    Ok(tensor)
}

/// A contiguous uint8 CPU tensor (from [`gather_bytes`]) dequantized through `levels`, as
/// [`dequantize_bytes`].
pub fn dequantize_tensor(q: &Tensor, levels: &[f32; 256]) -> Result<Tensor, tch::TchError> {
    if q.kind() != Kind::Uint8 || q.device() != Device::Cpu || !q.is_contiguous() {
        return dequantize(q);
    }
    let numel = q.numel();
    if numel == 0 {
        return q.f_to_kind(Kind::Float);
    }
    // SAFETY: `q` is a contiguous uint8 CPU tensor of `numel` elements (checked above), so
    // its data pointer addresses `numel` bytes; `q` is borrowed, so they outlive the slice,
    // and nothing writes them meanwhile (this crate's tensors of clips are never updated).
    let bytes = unsafe { std::slice::from_raw_parts(q.data_ptr().cast::<u8>().cast_const(), numel) };
    dequantize_bytes(bytes, &q.size(), levels)
}

/// Clips `rows` of a row-major `[n, steps, dim]` uint8 array as a uint8 CPU tensor
/// `[rows.len(), steps, dim]`, not yet dequantized (a quarter of the floats' memory).
pub fn gather_bytes(data: &[u8], steps: usize, dim: usize, rows: &[usize]) -> Result<Tensor, tch::TchError> {
    let clip = steps * dim;
    let shape = [rows.len() as i64, steps as i64, dim as i64];
    let consecutive = rows.windows(2).all(|w| w[1] == w[0] + 1);
    match (rows.first(), rows.last()) {
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
    .f_reshape(shape)
}

/// Gathers clips `rows` of a row-major `[n, steps, dim]` uint8 array into a float tensor
/// `[rows.len(), steps, dim]` on `device`.
pub fn gather(data: &[u8], steps: usize, dim: usize, rows: &[usize], device: Device) -> Result<Tensor, tch::TchError> {
    let q = gather_bytes(data, steps, dim, rows)?;
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

    /// The one-pass table gives exactly the kernels' values, for every byte, and falls back
    /// to the kernels for a tensor it cannot read in place.
    #[test]
    fn bytes_dequantized_through_the_table_equal_the_kernels() {
        let data: Vec<u8> = (0..=255).collect();
        let (steps, dim) = (4, 16);
        let levels = levels().unwrap();
        let q = gather_bytes(&data, steps, dim, &[2, 0, 3]).unwrap();
        assert_eq!((q.kind(), q.size()), (Kind::Uint8, vec![3, 4, 16]));
        let table = dequantize_tensor(&q, &levels).unwrap();
        assert!(table.equal(&gather(&data, steps, dim, &[2, 0, 3], Device::Cpu).unwrap()));
        let strided = q.transpose(1, 2);
        assert!(dequantize_tensor(&strided, &levels).unwrap().equal(&dequantize(&strided).unwrap()));
        assert!(dequantize_bytes(&data[..10], &[2, 4], &levels).unwrap_err().to_string().contains("10 bytes"));
    }
}
