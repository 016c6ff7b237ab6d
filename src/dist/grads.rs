//! What DDP synchronises, for avc's loop: rank 0's weights to every rank at the start, and
//! after each backward pass the gradients averaged over the ranks on flat buckets of about
//! 25 MB (DDP's `bucket_cap_mb`), so a model of many small tensors costs a few large
//! all-reduces rather than one per tensor. A few per-step scalars (the loss, whether some
//! rank was interrupted) ride along, so every rank takes the same decisions.

use super::{DistError, Group};
use tch::Tensor;

/// DDP's default bucket size.
pub const BUCKET_BYTES: usize = 25 * 1024 * 1024;

fn torch(what: &str, e: tch::TchError) -> DistError {
    DistError { what: what.into(), message: crate::lower::torch_summary(&e) }
}

/// Copies rank 0's values of `tensors` (weights, buffers, optimiser state) into every rank's.
pub fn broadcast_from_leader(group: &Group, tensors: &[Tensor]) -> Result<(), DistError> {
    let _guard = tch::no_grad_guard();
    for bucket in buckets(tensors.iter().map(|t| (t.numel() * t.kind().elt_size_in_bytes(), t.kind()))) {
        let parts: Vec<&Tensor> = bucket.iter().map(|&i| &tensors[i]).collect();
        group.broadcast(&parts, 0)?;
    }
    Ok(())
}

/// Averages the gradients of `vars` over the ranks, in place, and sums `extras` (the same
/// number on every rank) over them. A variable without a gradient here (unused in this
/// step) adds zeros and keeps none.
pub fn average(group: &Group, vars: &[Tensor], extras: &[f64]) -> Result<Vec<f64>, DistError> {
    let _guard = tch::no_grad_guard();
    let what = "preparing the gradient buckets";
    let grads: Vec<Tensor> = vars.iter().map(Tensor::grad).collect();
    let sizes = vars.iter().map(|v| (v.numel() * v.kind().elt_size_in_bytes(), v.kind()));
    let sums = Tensor::f_from_slice(extras).map_err(|e| torch(what, e))?;
    let plan = buckets(sizes);
    let mut flats = Vec::with_capacity(plan.len());
    for bucket in &plan {
        let parts = bucket
            .iter()
            .map(|&i| {
                let g = &grads[i];
                if g.defined() { g.f_reshape([-1]) } else { vars[i].f_zeros_like()?.f_reshape([-1]) }
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| torch(what, e))?;
        flats.push(Tensor::f_cat(&parts, 0).map_err(|e| torch(what, e))?);
    }
    let mut all: Vec<&Tensor> = flats.iter().collect();
    all.push(&sums);
    group.all_reduce(&all, false)?;
    let world = group.world as f64;
    let what = "writing back the averaged gradients";
    for (bucket, flat) in plan.iter().zip(&flats) {
        let mut at = 0i64;
        for &i in bucket {
            let n = vars[i].numel() as i64;
            let mut g = grads[i].shallow_clone();
            if g.defined() {
                let part = flat.f_narrow(0, at, n).and_then(|p| p.f_view_as(&g)).map_err(|e| torch(what, e))?;
                g.f_copy_(&part).map_err(|e| torch(what, e))?;
                let _ = g.f_div_scalar_(world).map_err(|e| torch(what, e))?;
            }
            at += n;
        }
    }
    Vec::<f64>::try_from(&sums).map_err(|e| torch(what, e))
}

/// The bytes [`average`] all-reduces on each rank: every gradient, as its variable's kind,
/// and the extras as f64s.
pub fn bytes(vars: &[Tensor], extras: &[f64]) -> u64 {
    let grads: usize = vars.iter().map(|v| v.numel() * v.kind().elt_size_in_bytes()).sum();
    (grads + std::mem::size_of_val(extras)) as u64
}

/// Consecutive tensors grouped into buckets of one kind and at most [`BUCKET_BYTES`] (a
/// larger tensor alone), as indices.
fn buckets(sizes: impl Iterator<Item = (usize, tch::Kind)>) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let (mut bytes, mut kind) = (0usize, None);
    for (i, (size, k)) in sizes.enumerate() {
        let fits = kind == Some(k) && bytes + size <= BUCKET_BYTES;
        match out.last_mut() {
            Some(last) if fits => last.push(i),
            _ => {
                out.push(vec![i]);
                bytes = 0;
            }
        }
        bytes += size;
        kind = Some(k);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_hold_one_kind_up_to_the_cap() {
        let f = tch::Kind::Float;
        let sizes = [(10, f), (BUCKET_BYTES, f), (5, f), (5, tch::Kind::Double), (5, tch::Kind::Double)];
        assert_eq!(buckets(sizes.into_iter()), vec![vec![0], vec![1], vec![2], vec![3, 4]]);
    }
}
