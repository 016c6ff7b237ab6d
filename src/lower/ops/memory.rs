//! Working in a tensor's memory order rather than its logical order.
//!
//! libtorch's recurrent kernels return `[T, B, F]` memory seen as `[B, T, F]`. A kernel
//! that allocates its output contiguous in the logical order (`index_select`, `cat`)
//! writes such a value across the grain, and the next recurrent layer copies it back to
//! `[T, B, F]` before it starts. Done on the contiguous view of the memory instead, the
//! same values come out in the input's memory order, and `final`'s joint LSTM reads the
//! concatenation of its pairs' tower values (two `index_select`s and a `cat`) as is. The
//! gain was within this machine's noise (docs/performance.md, "Later the same day").

use tch::Tensor;

/// The axes of `t` from outermost to innermost in memory when `t` is dense (its strides a
/// permutation of a contiguous layout), `None` otherwise. Axes of size 1 keep their place.
pub(crate) fn memory_order(t: &Tensor) -> Option<Vec<i64>> {
    let (size, stride) = (t.size(), t.stride());
    // The axes longer than 1 by decreasing stride (stable); axes of size 1 have any stride
    // and stay where they are.
    let mut long: Vec<usize> = (0..size.len()).filter(|&a| size[a] != 1).collect();
    long.sort_by_key(|&a| std::cmp::Reverse(stride[a]));
    let mut expected = 1;
    for &a in long.iter().rev() {
        if stride[a] != expected {
            return None;
        }
        expected *= size[a];
    }
    let mut long = long.into_iter();
    Some((0..size.len()).map(|a| if size[a] == 1 { a } else { long.next().unwrap_or(a) } as i64).collect())
}

/// `t`'s memory order when it is dense and not the logical one: what the helpers below
/// work through. `None` for contiguous or non-dense tensors (plain kernels serve them).
fn permuted_order(t: &Tensor) -> Option<Vec<i64>> {
    memory_order(t).filter(|order| order.iter().enumerate().any(|(k, &a)| a != k as i64))
}

/// The inverse of a permutation.
fn inverse(order: &[i64]) -> Vec<i64> {
    let mut inv = vec![0; order.len()];
    for (k, &a) in order.iter().enumerate() {
        inv[a as usize] = k as i64;
    }
    inv
}

/// `t.index_select(dim, rows)`, its result in `t`'s memory order.
pub(crate) fn index_select_in_order(t: &Tensor, dim: i64, rows: &Tensor) -> Result<Tensor, tch::TchError> {
    let rank = t.dim() as i64;
    let Some(order) = permuted_order(t).filter(|_| (-rank..rank).contains(&dim)) else {
        return t.f_index_select(dim, rows); // libtorch's own error for an axis out of range
    };
    let dim = if dim < 0 { dim + rank } else { dim };
    let at = inverse(&order)[dim as usize];
    t.f_permute(order.as_slice())?.f_index_select(at, rows)?.f_permute(inverse(&order).as_slice())
}

/// `Tensor::cat(xs, axis)`, its result in the inputs' memory order when they all share one.
pub(crate) fn cat_in_order<T: std::borrow::Borrow<Tensor>>(xs: &[T], axis: i64) -> Result<Tensor, tch::TchError> {
    let first = xs.first().map(|x| x.borrow());
    let order = first.and_then(permuted_order);
    let shared = order.as_ref().filter(|o| xs.iter().all(|x| memory_order(x.borrow()).as_ref() == Some(*o)));
    let Some(order) = shared else {
        return Tensor::f_cat(xs, axis);
    };
    let rank = order.len() as i64;
    if !(-rank..rank).contains(&axis) {
        return Tensor::f_cat(xs, axis); // libtorch's own error for an axis out of range
    }
    let axis = if axis < 0 { axis + rank } else { axis };
    let parts = xs.iter().map(|x| x.borrow().f_permute(order.as_slice())).collect::<Result<Vec<_>, _>>()?;
    Tensor::f_cat(&parts, inverse(order)[axis as usize])?.f_permute(inverse(order).as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn rnn_like(b: i64, t: i64, f: i64) -> Tensor {
        Tensor::randn([t, b, f], (Kind::Float, Device::Cpu)).transpose(0, 1)
    }

    #[test]
    fn memory_order_of_common_layouts() {
        let x = Tensor::zeros([2, 3, 4], (Kind::Float, Device::Cpu));
        assert_eq!(memory_order(&x), Some(vec![0, 1, 2]));
        assert_eq!(memory_order(&x.transpose(0, 1)), Some(vec![1, 0, 2]));
        assert_eq!(memory_order(&x.permute([2, 0, 1])), Some(vec![1, 2, 0]));
        assert_eq!(memory_order(&x.slice(2, 0, 4, 2)), None, "every other element: not dense");
        let ones = Tensor::zeros([1, 3, 1], (Kind::Float, Device::Cpu));
        assert_eq!(memory_order(&ones), Some(vec![0, 1, 2]));
    }

    #[test]
    fn gathering_rows_keeps_the_sequence_memory_order_and_the_values() {
        let x = rnn_like(5, 7, 3);
        let rows = Tensor::from_slice(&[4i64, 0, 0, 2]);
        let got = index_select_in_order(&x, 0, &rows).unwrap();
        assert!(got.equal(&x.index_select(0, &rows)));
        assert!(index_select_in_order(&x, -3, &rows).unwrap().equal(&got));
        assert!(index_select_in_order(&x, 3, &rows).is_err(), "an error, not a panic");
        assert_eq!(memory_order(&got), Some(vec![1, 0, 2]));
        let plain = Tensor::randn([5, 7, 3], (Kind::Float, Device::Cpu));
        assert!(index_select_in_order(&plain, 0, &rows).unwrap().is_contiguous());
    }

    #[test]
    fn concatenating_features_keeps_the_sequence_memory_order_and_the_values() {
        let (a, b) = (rnn_like(4, 6, 3), rnn_like(4, 6, 5));
        for axis in [2, -1] {
            let got = cat_in_order(&[&a, &b], axis).unwrap();
            assert!(got.equal(&Tensor::cat(&[&a, &b], axis)));
            assert_eq!(memory_order(&got), Some(vec![1, 0, 2]));
            // Seen as [T, B, F], the joined value is one contiguous block an RNN reads as is.
            assert!(got.transpose(0, 1).is_contiguous());
        }
        assert!(cat_in_order(&[&a, &b], 3).is_err(), "an error, not a panic");
        // Mixed orders: the plain kernel, the same values.
        let c = Tensor::randn([4, 6, 2], (Kind::Float, Device::Cpu));
        let mixed = cat_in_order(&[&a, &c], 2).unwrap();
        assert!(mixed.equal(&Tensor::cat(&[&a, &c], 2)));
        assert!(mixed.is_contiguous());
    }

    #[test]
    fn gradients_flow_as_through_the_plain_kernels() {
        let a = rnn_like(4, 6, 3).set_requires_grad(true);
        let b = rnn_like(4, 6, 2).set_requires_grad(true);
        let rows = Tensor::from_slice(&[3i64, 1, 1]);
        let weights = Tensor::randn([3, 6, 5], (Kind::Float, Device::Cpu));
        let joined = |ordered: bool| {
            let (ga, gb) = if ordered {
                (index_select_in_order(&a, 0, &rows).unwrap(), index_select_in_order(&b, 0, &rows).unwrap())
            } else {
                (a.index_select(0, &rows), b.index_select(0, &rows))
            };
            let cat = if ordered { cat_in_order(&[&ga, &gb], 2).unwrap() } else { Tensor::cat(&[&ga, &gb], 2) };
            (cat * &weights).sum(Kind::Float)
        };
        let grads = |ordered: bool| {
            let g = Tensor::run_backward(&[joined(ordered)], &[&a, &b], false, false);
            (g[0].copy(), g[1].copy())
        };
        let ((pa, pb), (oa, ob)) = (grads(false), grads(true));
        assert!(pa.allclose(&oa, 1e-6, 1e-6, false) && pb.allclose(&ob, 1e-6, 1e-6, false));
    }
}
