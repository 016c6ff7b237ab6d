//! What ops compute, where their shape alone says too little: the comparison,
//! linear-algebra, residual, attention and axis ops checked against hand-written formulas
//! over their own variables; recurrent, normalisation, convolution and pooling ops against
//! hand-computed values and PyTorch's variable names; and the mistakes each refuses, with
//! an error instead of a panic. (One file: it was two, op_semantics and ops_semantics.)

use crate::ops::{image, seq};
use avc::ops::{self, ArgError, ArgReader, Layer, LowerOp, Op, ResolvedArg};
use avc_lang::ast::{Ident, Value, ValueKind};
use avc_lang::shape::{Dim, Shape};
use avc_lang::source::{SourceFile, Span};
use std::collections::HashMap;
use tch::{Device, Kind, Tensor, nn};

fn arg(name: &str, kind: ValueKind) -> ResolvedArg {
    ResolvedArg { name: Ident::new(name, Span::empty()), value: Value { kind, span: Span::empty() } }
}

fn int(name: &str, v: i64) -> ResolvedArg {
    arg(name, ValueKind::Int(v))
}

fn ints(name: &str, vs: &[i64]) -> ResolvedArg {
    let items = vs.iter().map(|&v| Value { kind: ValueKind::Int(v), span: Span::empty() }).collect();
    arg(name, ValueKind::List(items))
}

fn parse(name: &str, args: &[ResolvedArg]) -> Result<Op, Vec<ArgError>> {
    let spec = ops::lookup(name).unwrap_or_else(|| panic!("op {name} is registered"));
    ArgReader::new(spec, args, Span::empty()).parse()
}

fn op(name: &str, args: &[ResolvedArg]) -> Op {
    parse(name, args).unwrap_or_else(|e| panic!("{name}: {e:?}"))
}

fn shape(dims: &[i64]) -> Shape {
    Shape::batched(dims.iter().map(|&d| Dim::Fixed(d)))
}

fn sym_t(f: i64) -> Shape {
    Shape::batched([Dim::Sym("T".into()), Dim::Fixed(f)])
}

/// Lowers an op into a fresh VarStore, which holds its variables.
fn lowered(op: &Op, ins: &[Shape]) -> (nn::VarStore, Box<dyn Layer>) {
    let vs = nn::VarStore::new(Device::Cpu);
    let layer = op.lower(&vs.root(), ins).expect("lowers");
    (vs, layer)
}

/// Lowers an op into a fresh VarStore and runs it; returns the output and the variables.
fn run(op: &Op, ins: &[Shape], xs: &[&Tensor], train: bool) -> (Tensor, HashMap<String, Tensor>) {
    let vs = nn::VarStore::new(Device::Cpu);
    let layer = op.lower(&vs.root(), ins).expect("lowers");
    let y = layer.forward(xs, train).expect("runs");
    (y, vs.variables())
}

fn randn(dims: &[i64]) -> Tensor {
    Tensor::randn(dims, (Kind::Float, Device::Cpu))
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    (a - b).abs().max().double_value(&[])
}

fn var<'a>(vars: &'a HashMap<String, Tensor>, name: &str) -> &'a Tensor {
    vars.get(name).unwrap_or_else(|| panic!("variable {name} in {:?}", vars.keys().collect::<Vec<_>>()))
}

fn names(vars: &HashMap<String, Tensor>) -> Vec<String> {
    let mut names: Vec<String> = vars.keys().cloned().collect();
    names.sort();
    names
}

// ------------------------------------------------------------------ similarity

#[test]
fn cosine_of_a_vector_with_itself_is_one_and_with_its_negation_minus_one() {
    let _rng = crate::torch_rng_lock();
    let x = randn(&[3, 5, 6]);
    let cos = op("cosine", &[]);
    let ins = [shape(&[5, 6]), shape(&[5, 6])];
    let (same, _) = run(&cos, &ins, &[&x, &x], false);
    assert_eq!(same.size(), [3, 5, 1]);
    assert!(max_diff(&same, &Tensor::ones([3, 5, 1], (Kind::Float, Device::Cpu))) < 1e-5);
    let (opposite, _) = run(&cos, &ins, &[&x, &(-&x)], false);
    assert!(max_diff(&opposite, &-Tensor::ones([3, 5, 1], (Kind::Float, Device::Cpu))) < 1e-5);
}

#[test]
fn l2_distance_is_euclidean_and_zero_with_a_finite_gradient_at_equal_inputs() {
    let _rng = crate::torch_rng_lock();
    let dist = op("l2_distance", &[]);
    let ins = [shape(&[2]), shape(&[2])];
    let a = Tensor::from_slice(&[3.0f32, 4.0, 1.0, 1.0]).reshape([2, 2]);
    let b = Tensor::from_slice(&[0.0f32, 0.0, 1.0, 1.0]).reshape([2, 2]);
    let (d, _) = run(&dist, &ins, &[&a, &b], false);
    assert!(max_diff(&d, &Tensor::from_slice(&[5.0f32, 0.0]).reshape([2, 1])) < 1e-5, "{d}");

    let x = randn(&[4, 6]).set_requires_grad(true);
    let y = x.detach().copy().set_requires_grad(true);
    let (d, _) = run(&dist, &[shape(&[6]), shape(&[6])], &[&x, &y], false);
    assert!(d.abs().max().double_value(&[]) < 1e-5, "distance of equal inputs: {d}");
    d.sum(Kind::Float).backward();
    for g in [x.grad(), y.grad()] {
        assert_eq!(g.isfinite().all().int64_value(&[]), 1, "gradient at a == b: {g}");
    }
}

#[test]
fn comparisons_need_one_shape() {
    let err = op("cosine", &[]).infer(&[shape(&[5, 6]), shape(&[5, 7])]).unwrap_err();
    assert_eq!((err.input, err.axis, err.expected.as_str()), (Some(1), Some(2), "[B, 5, 6]"));
    assert!(op("l2_distance", &[]).infer(&[sym_t(6), sym_t(6)]).is_ok());
}

// ------------------------------------------------------------------ linalg

#[test]
fn matmul_multiplies_the_last_two_axes() {
    let _rng = crate::torch_rng_lock();
    let (a, b) = (randn(&[3, 2, 5, 6]), randn(&[3, 2, 6, 4]));
    let (y, _) = run(&op("matmul", &[]), &[shape(&[2, 5, 6]), shape(&[2, 6, 4])], &[&a, &b], false);
    assert!(max_diff(&y, &a.matmul(&b)) < 1e-5);
    let bt = b.transpose(-1, -2).contiguous();
    let tb = op("matmul", &[arg("transpose_b", ValueKind::Bool(true))]);
    let (y2, _) = run(&tb, &[shape(&[2, 5, 6]), shape(&[2, 4, 6])], &[&a, &bt], false);
    assert!(max_diff(&y2, &y) < 1e-5);
}

#[test]
fn matmul_refuses_inner_sizes_that_differ() {
    let mm = op("matmul", &[]);
    let err = mm.infer(&[shape(&[5, 6]), shape(&[7, 4])]).unwrap_err();
    assert_eq!((err.input, err.axis), (Some(1), Some(1)));
    assert_eq!(err.expected, "[B, 6, 4]");
    assert_eq!(err.found, shape(&[7, 4]), "the offending input's shape, as data");
    assert_eq!(err.found.to_string(), "[B, 7, 4]");
    assert!(err.hint.unwrap().contains("transpose_b"));
    // Symbols: the same one agrees, a number against a symbol cannot be proven to.
    let t = Dim::Sym("T".into());
    let a = Shape::batched([Dim::Fixed(5), t.clone()]);
    assert_eq!(mm.infer(&[a.clone(), sym_t(4)]).unwrap(), shape(&[5, 4]));
    assert!(mm.infer(&[a, shape(&[6, 4])]).is_err());
    // transpose_b compares with b's last axis; leading axes must agree.
    let tb = op("matmul", &[arg("transpose_b", ValueKind::Bool(true))]);
    assert_eq!(tb.infer(&[sym_t(6), sym_t(6)]).unwrap(), Shape::batched([t.clone(), t]));
    assert_eq!(tb.infer(&[sym_t(6), sym_t(5)]).unwrap_err().axis, Some(2));
    assert_eq!(mm.infer(&[shape(&[2, 5, 6]), shape(&[3, 6, 4])]).unwrap_err().axis, Some(1));
    assert_eq!(op("bmm", &[]).infer(&[shape(&[2, 5, 6]), shape(&[2, 6, 4])]).unwrap_err().expected, "rank 3 [B, n, k]");
}

// ------------------------------------------------------------------ residual

#[test]
fn residual_is_exactly_x_plus_skip_when_widths_agree() {
    let _rng = crate::torch_rng_lock();
    let res = op("residual", &[]);
    let (skip, x) = (randn(&[3, 7, 6]), randn(&[3, 7, 6]));
    let ins = [shape(&[7, 6]), shape(&[7, 6])];
    let (y, vars) = run(&res, &ins, &[&skip, &x], false);
    assert!(vars.is_empty(), "no variables: {:?}", names(&vars));
    assert_eq!(res.param_count(&ins), 0);
    assert_eq!(max_diff(&y, &(&x + &skip)), 0.0);
}

#[test]
fn residual_projects_the_skip_when_widths_differ() {
    let _rng = crate::torch_rng_lock();
    let res = op("residual", &[]);
    let (skip, x) = (randn(&[3, 7, 6]), randn(&[3, 7, 4]));
    let ins = [shape(&[7, 6]), shape(&[7, 4])];
    assert_eq!(res.infer(&ins).unwrap(), shape(&[7, 4]));
    let (y, vars) = run(&res, &ins, &[&skip, &x], false);
    assert_eq!(names(&vars), ["proj.weight"]);
    let w = var(&vars, "proj.weight");
    assert_eq!(w.size(), [4, 6]);
    assert!(max_diff(&y, &(&x + skip.matmul(&w.tr()))) < 1e-5);
    // Other axes must agree, and a width to project from must be known.
    assert_eq!(res.infer(&[shape(&[7, 6]), shape(&[8, 4])]).unwrap_err().axis, Some(1));
    assert!(res.infer(&[sym_t(6), sym_t(6)]).is_ok());
    let open_width = Shape::batched([Dim::Fixed(7), Dim::Sym("F".into())]);
    assert!(res.infer(&[open_width, shape(&[7, 4])]).is_err());
}

// ------------------------------------------------------------------ attention

/// Additive attention's weights from its variables, by hand.
fn additive_weights(vars: &HashMap<String, Tensor>, x: &Tensor, query: Option<&Tensor>) -> Tensor {
    let keys = x.matmul(&var(vars, "key.weight").tr()) + var(vars, "key.bias");
    let q = match query {
        Some(q) => q.matmul(&var(vars, "query.weight").tr()).unsqueeze(1),
        None => var(vars, "query").shallow_clone(),
    };
    let scores = (keys + q).tanh().matmul(&var(vars, "score.weight").tr()).squeeze_dim(-1);
    scores.softmax(1, Kind::Float)
}

#[test]
fn attention_weights_sum_to_one_and_the_context_is_their_weighted_sum() {
    let _rng = crate::torch_rng_lock();
    let x = randn(&[3, 9, 6]);
    let q = randn(&[3, 5]);
    for with_query in [false, true] {
        let mut ins = vec![shape(&[9, 6])];
        let mut xs = vec![&x];
        if with_query {
            ins.push(shape(&[5]));
            xs.push(&q);
        }
        let weights_op = op("attention", &[int("hidden", 4), arg("output", ValueKind::Str("weights".into()))]);
        let (w, vars) = run(&weights_op, &ins, &xs, false);
        let expected_vars: &[&str] = if with_query {
            &["key.bias", "key.weight", "query.weight", "score.weight"]
        } else {
            &["key.bias", "key.weight", "query", "score.weight"]
        };
        assert_eq!(names(&vars), expected_vars);
        assert_eq!(w.size(), [3, 9]);
        let ones = Tensor::ones([3], (Kind::Float, Device::Cpu));
        assert!(max_diff(&w.sum_dim_intlist(1, false, Kind::Float), &ones) < 1e-5);
        assert!(max_diff(&w, &additive_weights(&vars, &x, with_query.then_some(&q))) < 1e-5);

        // The context op, given the same variables, returns sum_t w_t x_t.
        let (from, weights_layer) = lowered(&weights_op, &ins);
        let (mut vs, layer) = lowered(&op("attention", &[int("hidden", 4)]), &ins);
        vs.copy(&from).expect("the same variables");
        let w = weights_layer.forward(&xs, false).expect("runs");
        let ctx = layer.forward(&xs, false).expect("runs");
        assert_eq!(ctx.size(), [3, 6]);
        let by_hand = (w.unsqueeze(-1) * &x).sum_dim_intlist(1, false, Kind::Float);
        assert!(max_diff(&ctx, &by_hand) < 1e-5, "context with query: {with_query}");
    }
}

#[test]
fn attention_checks_its_inputs_and_counts_its_variables() {
    let att = op("attention", &[int("hidden", 4)]);
    assert_eq!(att.infer(&[sym_t(6)]).unwrap(), shape(&[6]));
    assert_eq!(att.param_count(&[sym_t(6)]), 4 * 6 + 4 + 4 + 4);
    assert_eq!(att.param_count(&[sym_t(6), shape(&[5])]), 4 * 6 + 4 + 4 * 5 + 4);
    assert_eq!(att.infer(&[sym_t(6), sym_t(5)]).unwrap_err().expected, "rank 2 [B, Q] (the query)");
    assert_eq!(att.infer(&[shape(&[6])]).unwrap_err().input, Some(0));
    assert_eq!(ops::lookup("attention").unwrap().arity.to_string(), "1 or 2 inputs");
}

/// nn.MultiheadAttention's forward for (x, kv, kv), written out head by head.
fn mha_by_hand(vars: &HashMap<String, Tensor>, x: &Tensor, kv: &Tensor, heads: i64) -> Tensor {
    let f = x.size()[2];
    let hd = f / heads;
    let w = var(vars, "in_proj_weight");
    let b = var(vars, "in_proj_bias");
    let project = |x: &Tensor, i: i64| x.matmul(&w.narrow(0, i * f, f).tr()) + b.narrow(0, i * f, f);
    let (q, k, v) = (project(x, 0), project(kv, 1), project(kv, 2));
    let per_head: Vec<Tensor> = (0..heads)
        .map(|h| {
            let (qh, kh, vh) = (q.narrow(2, h * hd, hd), k.narrow(2, h * hd, hd), v.narrow(2, h * hd, hd));
            let scores = qh.matmul(&kh.transpose(1, 2)) / (hd as f64).sqrt();
            scores.softmax(-1, Kind::Float).matmul(&vh)
        })
        .collect();
    Tensor::cat(&per_head, 2).matmul(&var(vars, "out_proj.weight").tr()) + var(vars, "out_proj.bias")
}

#[test]
fn self_attention_equals_multihead_attention_written_by_hand() {
    let _rng = crate::torch_rng_lock();
    let x = randn(&[2, 7, 8]);
    for heads in [1, 2, 4] {
        let (vs, layer) = lowered(&op("self_attention", &[int("heads", heads)]), &[sym_t(8)]);
        let vars = vs.variables();
        assert_eq!(names(&vars), ["in_proj_bias", "in_proj_weight", "out_proj.bias", "out_proj.weight"]);
        assert_eq!(var(&vars, "in_proj_weight").size(), [24, 8]);
        assert_eq!(var(&vars, "out_proj.weight").size(), [8, 8]);
        // MultiheadAttention starts with zero biases; give them values so that they are tested.
        tch::no_grad(|| {
            var(&vars, "in_proj_bias").shallow_clone().copy_(&randn(&[24]));
            var(&vars, "out_proj.bias").shallow_clone().copy_(&randn(&[8]));
        });
        let y = layer.forward(&[&x], false).expect("runs");
        assert_eq!(y.size(), [2, 7, 8]);
        assert!(max_diff(&y, &mha_by_hand(&vars, &x, &x, heads)) < 1e-5, "heads {heads}");
    }
}

/// Queries of one length attend over keys and values of another; the variables are
/// self-attention's, so a PyTorch nn.MultiheadAttention called as `mha(q, kv, kv)` loads them.
#[test]
fn cross_attention_equals_multihead_attention_on_two_sequences() {
    let _rng = crate::torch_rng_lock();
    let (q, kv) = (randn(&[2, 7, 8]), randn(&[2, 5, 8]));
    for heads in [1, 4] {
        let (vs, layer) = lowered(&op("cross_attention", &[int("heads", heads)]), &[sym_t(8), sym_t(8)]);
        let vars = vs.variables();
        assert_eq!(names(&vars), ["in_proj_bias", "in_proj_weight", "out_proj.bias", "out_proj.weight"]);
        tch::no_grad(|| {
            var(&vars, "in_proj_bias").shallow_clone().copy_(&randn(&[24]));
            var(&vars, "out_proj.bias").shallow_clone().copy_(&randn(&[8]));
        });
        let y = layer.forward(&[&q, &kv], false).expect("runs");
        assert_eq!(y.size(), [2, 7, 8], "one output step per query step");
        assert!(max_diff(&y, &mha_by_hand(&vars, &q, &kv, heads)) < 1e-5, "heads {heads}");
        // The keys matter: other keys and values give other outputs.
        let other = layer.forward(&[&q, &randn(&[2, 5, 8])], false).expect("runs");
        assert!(max_diff(&y, &other) > 1e-3, "heads {heads}: the second input is read");
    }
}

#[test]
fn cross_attention_needs_one_width_divisible_by_heads() {
    let ca = op("cross_attention", &[int("heads", 2)]);
    let err = ca.infer(&[sym_t(8), sym_t(6)]).unwrap_err();
    assert_eq!((err.input, err.axis), (Some(1), Some(2)), "{err:?}");
    assert_eq!(err.expected, "the queries' width 8 on the last axis");
    assert!(err.hint.is_some_and(|h| h.contains("linear")));
    let err = op("cross_attention", &[int("heads", 3)]).infer(&[sym_t(8), sym_t(8)]).unwrap_err();
    assert_eq!(err.expected, "a last axis divisible by heads = 3");
    assert_eq!(ca.infer(&[sym_t(8), shape(&[8])]).unwrap_err().expected, "rank 3 [B, Tk, F] (the keys and values)");
    assert_eq!(ca.param_count(&[sym_t(8), sym_t(8)]), 4 * 64 + 4 * 8);
    // Projections: 2 * 7 * 64 (q, out) + 2 * 5 * 64 (k, v); scores and mixing: 2 * 7 * 5 * 8.
    assert_eq!(ca.macs(&[shape(&[7, 8]), shape(&[5, 8])], &shape(&[7, 8])), Some(896 + 640 + 560));
    assert_eq!(ops::lookup("cross_attention").unwrap().arity.to_string(), "2 inputs");
}

#[test]
fn self_attention_drops_weights_only_in_training() {
    let _rng = crate::torch_rng_lock();
    let x = randn(&[2, 7, 8]);
    let sa = op("self_attention", &[int("heads", 2), arg("dropout", ValueKind::Float(0.5))]);
    let (_vs, layer) = lowered(&sa, &[sym_t(8)]);
    let eval = || layer.forward(&[&x], false).expect("runs");
    assert_eq!(max_diff(&eval(), &eval()), 0.0);
    let train = layer.forward(&[&x], true).expect("runs");
    assert!(max_diff(&train, &eval()) > 1e-3, "dropout changes the training output");
}

#[test]
fn self_attention_needs_a_width_divisible_by_heads() {
    let err = op("self_attention", &[int("heads", 4)]).infer(&[sym_t(6)]).unwrap_err();
    assert_eq!((err.axis, err.expected.as_str()), (Some(2), "a last axis divisible by heads = 4"));
    assert_eq!(op("self_attention", &[int("heads", 3)]).param_count(&[sym_t(6)]), 4 * 36 + 4 * 6);
}

// ------------------------------------------------------------------ axes

#[test]
fn reshape_infers_minus_one_and_refuses_a_count_that_differs() {
    let reshaped = |list: &[i64]| op("reshape", &[ints("shape", list)]).infer(&[shape(&[4, 6])]);
    assert_eq!(reshaped(&[8, -1]).unwrap(), shape(&[8, 3]));
    assert_eq!(reshaped(&[2, 3, 4]).unwrap(), shape(&[2, 3, 4]));
    let err = reshaped(&[5, 5]).unwrap_err();
    assert_eq!(err.expected, "25 elements per sample (shape [5, 5])");
    assert!(err.hint.as_deref().unwrap().contains("24 elements"), "{err:?}");
    assert!(reshaped(&[5, -1]).unwrap_err().expected.contains("divisible by 5"));
    // Symbolic lengths stay symbolic.
    let t = |f| op("reshape", &[ints("shape", &[-1, f])]).infer(&[sym_t(6)]).unwrap().to_string();
    assert_eq!([t(6), t(3), t(4)], ["[B, T, 6]", "[B, T*2, 3]", "[B, (T*3)/2, 4]"]);
}

#[test]
fn reshape_and_permute_validate_their_lists() {
    let range =
        |name: &str, list: &[i64]| match parse(name, &[ints(if name == "reshape" { "shape" } else { "dims" }, list)]) {
            Err(errors) => errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "),
            Ok(op) => panic!("{name} accepted {list:?}: {op:?}"),
        };
    assert!(range("reshape", &[-1, -1]).contains("at most one size to infer"));
    assert!(range("reshape", &[0, 4]).contains("at least 1"));
    assert!(range("reshape", &[]).contains("at least one size"));
    assert!(range("permute", &[1, 0, 2]).contains("the batch axis must stay first"));
    // Elements must be integers; a list is needed at all.
    let floats = arg("shape", ValueKind::List(vec![Value { kind: ValueKind::Float(2.5), span: Span::new(3, 6) }]));
    let errors = parse("reshape", &[floats]).unwrap_err();
    assert_eq!(errors[0].to_string(), "parameter `shape` of `reshape` must be a list of integers, found a float `2.5`");
    assert_eq!(errors[0].span(), Span::new(3, 6));
    assert!(parse("reshape", &[int("shape", 8)]).unwrap_err()[0].to_string().contains("a list of integers"));
    assert!(parse("reshape", &[]).unwrap_err()[0].to_string().contains("needs the parameter `shape` ([int])"));
}

#[test]
fn permute_reorders_axes_but_never_the_batch() {
    let _rng = crate::torch_rng_lock();
    let p = op("permute", &[ints("dims", &[0, 2, 1, 3])]);
    let s = Shape::batched([Dim::Fixed(2), Dim::Sym("T".into()), Dim::Fixed(6)]);
    assert_eq!(p.infer(&[s]).unwrap().to_string(), "[B, T, 2, 6]");
    let x = randn(&[3, 2, 5, 6]);
    let (y, _) = run(&p, &[shape(&[2, 5, 6])], &[&x], false);
    assert_eq!(max_diff(&y, &x.permute([0, 2, 1, 3])), 0.0);
    // A negative first entry that resolves to another axis is caught with the shape.
    let err = op("permute", &[ints("dims", &[-1, 0, 1])]).infer(&[sym_t(6)]).unwrap_err();
    assert!(err.hint.as_deref().unwrap().contains("the batch axis must stay first"), "{err:?}");
    assert!(op("permute", &[ints("dims", &[0, 1, 1])]).infer(&[sym_t(6)]).is_err());
    assert!(op("permute", &[ints("dims", &[0, 1])]).infer(&[sym_t(6)]).unwrap_err().expected.starts_with("rank 2"));
}

#[test]
fn unsqueeze_inserts_an_axis_but_never_before_the_batch() {
    let u = |axis| op("unsqueeze", &[int("axis", axis)]);
    assert_eq!(u(1).infer(&[sym_t(6)]).unwrap().to_string(), "[B, 1, T, 6]");
    assert_eq!(u(3).infer(&[sym_t(6)]).unwrap().to_string(), "[B, T, 6, 1]");
    assert_eq!(u(-1).infer(&[sym_t(6)]).unwrap().to_string(), "[B, T, 6, 1]");
    assert_eq!(u(-3).infer(&[sym_t(6)]).unwrap().to_string(), "[B, 1, T, 6]");
    assert!(u(-4).infer(&[sym_t(6)]).is_err(), "-4 of a rank-4 output is the batch's place");
    assert_eq!(u(4).infer(&[sym_t(6)]).unwrap_err().expected, "rank 4 or more (for axis 4)");
    let errors = parse("unsqueeze", &[int("axis", 0)]).unwrap_err();
    assert!(errors[0].to_string().contains("the batch axis must stay first"), "{errors:?}");
}

// ------------------------------------------------------------------ front-ends

fn compile(name: &str, text: &str) -> avc_lang::compile::Compiled {
    match avc_lang::compile::compile(&SourceFile::new(name, text)) {
        Ok(c) => c,
        Err(f) => panic!("{name}:\n{}", avc_lang::diag::render_all(&f.diagnostics, &f.source, false)),
    }
}

fn shape_of(c: &avc_lang::compile::Compiled, node: &str) -> String {
    let id = c.graph.ids().find(|&id| c.graph.node(id).name == node).expect("node exists");
    c.checked.shape(id).expect("checked").to_string()
}

#[test]
fn both_front_ends_accept_integer_lists_with_references() {
    let dsl = "input audio: [T, 128]\nlet C = 4\n\
        block split(x, parts: int) {\n  r = reshape(x, shape: [-1, parts, 32])\n  return r\n}\n\
        s = split(audio, parts: C)\np = permute(s, dims: [0, 2, 1, 3])\nimg = unsqueeze(audio, axis: 1)\n\
        pm = mean(p, axis: 2)\nim = mean(img, axis: 2)\n\
        flat = concat(flatten(reshape(pm, shape: [-1, C])), flatten(im))\n\
        out = linear(flat, out: 1)\noutput o: logit(out)\n";
    let c = compile("lists.avc", dsl);
    assert_eq!(shape_of(&c, "s.r"), "[B, T, 4, 32]");
    assert_eq!(shape_of(&c, "p"), "[B, 4, T, 32]");
    assert_eq!(shape_of(&c, "img"), "[B, 1, T, 128]");
    assert_eq!(shape_of(&c, "flat"), "[B, 256]");

    let yaml = "inputs: {audio: [T, 128]}\nconstants: {C: 4}\nnodes:\n\
        \x20 - {name: r, op: reshape, in: audio, shape: [-1, $C, 32]}\n\
        \x20 - {name: p, op: permute, in: r, dims: [0, 2, 1, 3]}\n\
        \x20 - {name: m, op: mean, in: p, axis: 2}\n\
        \x20 - {name: f, op: flatten, in: m}\n\
        \x20 - {name: head, op: linear, in: f, out: 1}\n\
        outputs:\n  - {name: o, kind: logit, from: head}\n";
    let c = compile("lists.yaml", yaml);
    assert_eq!(shape_of(&c, "r"), "[B, T, 4, 32]");
    assert_eq!(shape_of(&c, "p"), "[B, 4, T, 32]");
}

#[test]
fn attention_takes_one_or_two_inputs() {
    let text = "input audio: [T, 8]\ninput video: [4]\nq = linear(video, out: 3)\n\
        a = attention(audio, q, q, hidden: 4)\noutput o: logit(a)\n";
    let failed = match avc_lang::compile::compile(&SourceFile::new("arity.avc", text)) {
        Ok(_) => panic!("three inputs accepted"),
        Err(f) => f,
    };
    let text = avc_lang::diag::render_all(&failed.diagnostics, &failed.source, false);
    assert!(text.contains("`attention` takes 1 or 2 inputs, found 3"), "{text}");
}

// ------------------------------------------------------------------ recurrent, norm, conv, pooling

/// Lowers an op for one input shape into `vs`.
fn lower(op: &Op, input: &Shape, vs: &nn::VarStore) -> Box<dyn Layer> {
    op.lower(&vs.root(), std::slice::from_ref(input)).expect("lowers")
}

fn run_layer(layer: &dyn Layer, x: &Tensor) -> Tensor {
    layer.forward(&[x], false).expect("runs")
}

fn values(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.flatten(0, -1)).expect("float tensor")
}

/// `0, 1, 2, ...` in the given shape.
fn counting(shape: &[i64]) -> Tensor {
    Tensor::arange(shape.iter().product::<i64>(), (Kind::Float, Device::Cpu)).reshape(shape)
}

fn output_last() -> ResolvedArg {
    arg("output", ValueKind::Str("last".into()))
}

/// For each recurrent op: `output: last` is the final hidden state, i.e. the forward
/// direction's last step and the backward direction's first step of `output: sequence`.
#[test]
fn recurrent_last_is_the_end_of_each_direction() {
    let _rng = crate::torch_rng_lock();
    for name in ["gru", "lstm"] {
        for bidirectional in [false, true] {
            let common = [int("hidden", 4), int("layers", 2), arg("bidirectional", ValueKind::Bool(bidirectional))];
            let sequence = op(name, &common);
            let last = op(name, &[&common[..], &[output_last()]].concat());
            let input = seq(Some(5), 3);
            let vs = nn::VarStore::new(Device::Cpu);
            let mut vs_last = nn::VarStore::new(Device::Cpu);
            let (seq_layer, last_layer) = (lower(&sequence, &input, &vs), lower(&last, &input, &vs_last));
            vs_last.copy(&vs).expect("same variables");
            let x = Tensor::randn([2, 5, 3], (Kind::Float, Device::Cpu));
            let (all, end) = (run_layer(&*seq_layer, &x), run_layer(&*last_layer, &x));
            let forward = all.select(1, -1).narrow(1, 0, 4);
            let expected =
                if bidirectional { Tensor::cat(&[forward, all.select(1, 0).narrow(1, 4, 4)], 1) } else { forward };
            assert_eq!(end.size(), expected.size(), "{name} bidirectional={bidirectional}");
            assert!(max_diff(&end, &expected) < 1e-6, "{name} bidirectional={bidirectional}");
        }
    }
}

#[test]
fn gru_variables_have_pytorch_names_and_shapes() {
    let _rng = crate::torch_rng_lock();
    let gru = op("gru", &[int("hidden", 4), int("layers", 2), arg("bidirectional", ValueKind::Bool(true))]);
    let vs = nn::VarStore::new(Device::Cpu);
    lower(&gru, &seq(None, 6), &vs);
    let vars = vs.variables();
    assert_eq!(vars.len(), 16, "4 tensors x 2 layers x 2 directions: {:?}", vars.keys());
    let size = |name: &str| vars.get(name).unwrap_or_else(|| panic!("no {name} in {:?}", vars.keys())).size();
    assert_eq!(size("weight_ih_l0"), [12, 6]);
    assert_eq!(size("weight_hh_l0_reverse"), [12, 4]);
    assert_eq!(size("weight_ih_l1"), [12, 8], "layer 2 reads both directions");
    assert_eq!(size("bias_ih_l1_reverse"), [12]);
    assert_eq!(size("bias_hh_l1"), [12]);
}

/// One GRU layer stepped by hand with PyTorch's equations (gate order r, z, n).
#[test]
fn gru_follows_pytorch_equations() {
    let _rng = crate::torch_rng_lock();
    let vs = nn::VarStore::new(Device::Cpu);
    let layer = lower(&op("gru", &[int("hidden", 2)]), &seq(Some(3), 3), &vs);
    let x = Tensor::randn([1, 3, 3], (Kind::Float, Device::Cpu));
    let out = run_layer(&*layer, &x);
    let v = vs.variables();
    let mut h = Tensor::zeros([1, 2], (Kind::Float, Device::Cpu));
    for t in 0..3 {
        let gi = x.select(1, t).linear(&v["weight_ih_l0"], Some(&v["bias_ih_l0"])).chunk(3, 1);
        let gh = h.linear(&v["weight_hh_l0"], Some(&v["bias_hh_l0"])).chunk(3, 1);
        let r = (&gi[0] + &gh[0]).sigmoid();
        let z = (&gi[1] + &gh[1]).sigmoid();
        let n = (&gi[2] + &r * &gh[2]).tanh();
        h = (1.0 - &z) * &n + &z * &h;
        assert!(max_diff(&out.select(1, t), &h) < 1e-5, "step {t}");
    }
}

#[test]
fn layernorm_standardises_the_last_axis() {
    let _rng = crate::torch_rng_lock();
    let vs = nn::VarStore::new(Device::Cpu);
    let layer = lower(&op("layernorm", &[]), &seq(Some(5), 6), &vs);
    let x = Tensor::randn([3, 5, 6], (Kind::Float, Device::Cpu)) * 4.0 + 2.0;
    let y = run_layer(&*layer, &x);
    let mean = y.mean_dim(-1, false, None);
    let var = y.var_dim(-1, false, false);
    assert!(mean.abs().max().double_value(&[]) < 1e-5, "mean {mean}");
    assert!((var - 1.0).abs().max().double_value(&[]) < 1e-3, "variance");
    let v = vs.variables();
    assert_eq!(values(&v["weight"]), [1.0; 6], "nn.LayerNorm starts at scale 1");
    assert_eq!(values(&v["bias"]), [0.0; 6], "and shift 0");
}

#[test]
fn softmax_sums_to_one_along_its_axis_only() {
    let _rng = crate::torch_rng_lock();
    let x = Tensor::randn([3, 5, 6], (Kind::Float, Device::Cpu));
    for (axis, summed, other) in [(-1, 2, 1), (1, 1, 2), (2, 2, 1)] {
        let vs = nn::VarStore::new(Device::Cpu);
        let y = run_layer(&*lower(&op("softmax", &[int("axis", axis)]), &seq(Some(5), 6), &vs), &x);
        let sums = y.sum_dim_intlist(summed, false, None::<Kind>);
        assert!(max_diff(&sums, &sums.ones_like()) < 1e-5, "axis {axis}: sums to 1");
        let across = y.sum_dim_intlist(other, false, None::<Kind>);
        assert!(max_diff(&across, &across.ones_like()) > 0.01, "axis {axis}: not along axis {other}");
    }
}

#[test]
fn a_bad_axis_is_a_shape_error() {
    let input = seq(Some(5), 6);
    for axis in [0, 3, -4] {
        let err = op("softmax", &[int("axis", axis)]).infer(std::slice::from_ref(&input)).expect_err("refused");
        assert_eq!(err.expected, format!("an axis {axis} other than the batch"));
        assert_eq!(err.found, input);
        assert_eq!(err.found.to_string(), "[B, 5, 6]");
    }
}

#[test]
fn sigmoid_is_the_logistic_function() {
    let vs = nn::VarStore::new(Device::Cpu);
    let x = Tensor::from_slice(&[0.0f32, 2.0, -2.0]).reshape([1, 3]);
    let y = run_layer(&*lower(&op("sigmoid", &[]), &Shape::batched([Dim::Fixed(3)]), &vs), &x);
    let e = (-2.0f32).exp();
    let expected = [0.5, 1.0 / (1.0 + e), e / (1.0 + e)];
    assert!(values(&y).iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-6), "{y}");
}

/// x[t, f] = 2t + f over 6 steps and 2 features; windows of 2 steps (and of 3, stride 1).
#[test]
fn avgpool1d_averages_windows_of_time() {
    let x = counting(&[1, 6, 2]);
    let pool = |args: &[ResolvedArg]| {
        run_layer(&*lower(&op("avgpool1d", args), &seq(Some(6), 2), &nn::VarStore::new(Device::Cpu)), &x)
    };
    assert_eq!(values(&pool(&[int("kernel", 2)])), [1.0, 2.0, 5.0, 6.0, 9.0, 10.0]);
    let overlapping = pool(&[int("kernel", 3), int("stride", 1)]);
    assert_eq!(overlapping.size(), [1, 4, 2]);
    assert_eq!(values(&overlapping), [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
}

/// A 4x4 image counting 0..16 row by row, pooled in 2x2 blocks.
#[test]
fn pool2d_reduces_square_windows() {
    let x = counting(&[1, 1, 4, 4]);
    let pool = |name| {
        run_layer(&*lower(&op(name, &[int("kernel", 2)]), &image(1, Some(4), 4), &nn::VarStore::new(Device::Cpu)), &x)
    };
    assert_eq!(values(&pool("maxpool2d")), [5.0, 7.0, 13.0, 15.0]);
    assert_eq!(values(&pool("avgpool2d")), [2.5, 4.5, 10.5, 12.5]);
}

/// With every weight 1 and no bias, each output is the sum of its 2x2 window.
#[test]
fn conv2d_sums_windows_with_nn_conv2d_variables() {
    let _rng = crate::torch_rng_lock();
    let vs = nn::VarStore::new(Device::Cpu);
    let conv = op("conv2d", &[int("out", 1), int("kernel", 2), arg("bias", ValueKind::Bool(false))]);
    let layer = lower(&conv, &image(1, Some(3), 3), &vs);
    let mut weight = vs.variables()["weight"].shallow_clone();
    assert_eq!(weight.size(), [1, 1, 2, 2], "[out, C, kernel, kernel]");
    tch::no_grad(|| {
        let _ = weight.fill_(1.0);
    });
    assert_eq!(values(&run_layer(&*layer, &counting(&[1, 1, 3, 3]))), [8.0, 12.0, 20.0, 24.0]);

    let vs = nn::VarStore::new(Device::Cpu);
    lower(&op("conv2d", &[int("out", 5), int("kernel", 3)]), &image(2, None, 4), &vs);
    let v = vs.variables();
    assert_eq!((v["weight"].size(), v["bias"].size()), (vec![5, 2, 3, 3], vec![5]));
}

#[test]
fn conv2d_refuses_a_kernel_larger_than_the_padded_image() {
    let conv = |k, p| op("conv2d", &[int("out", 4), int("kernel", k), int("padding", p)]);
    let err = conv(5, 0).infer(&[image(1, Some(4), 8)]).expect_err("4 rows < kernel 5");
    assert_eq!((err.axis, err.expected.as_str()), (Some(2), "at least 5 rows (H) (kernel)"));
    assert_eq!(err.found, image(1, Some(4), 8));
    assert_eq!(err.found.to_string(), "[B, 1, 4, 8]");
    let err = conv(5, 1).infer(&[image(1, Some(8), 2)]).expect_err("2 + 2 columns < kernel 5");
    assert_eq!(err.axis, Some(3));
    assert_eq!(err.expected, "at least 3 columns (W) with padding 1 on each side (kernel 5)");
    let fits = conv(5, 1).infer(&[image(1, Some(3), 3)]).expect("3 + 2 = 5 fits once");
    assert_eq!(fits.to_string(), "[B, 4, 1, 1]");
}

#[test]
fn conv2d_keeps_a_symbolic_height_and_names_layout_slips() {
    let conv = op("conv2d", &[int("out", 4), int("kernel", 3), int("stride", 2)]);
    assert_eq!(conv.infer(&[image(1, None, 9)]).expect("symbolic H").to_string(), "[B, 4, (T-3)/2+1, 4]");
    let err = conv.infer(&[seq(None, 9)]).expect_err("a sequence is not an image");
    assert_eq!(err.expected, "rank 4 [B, C, H, W]");
    assert!(err.hint.is_some_and(|h| h.contains("unsqueeze")), "the hint says how to make an image");
    let channels = Shape::batched([Dim::Sym("C".into()), Dim::Fixed(9), Dim::Fixed(9)]);
    assert_eq!(conv.infer(&[channels]).expect_err("weights need C").axis, Some(1));
}

/// With every weight 1 and no bias, a dilated conv1d sums the taps `dilation` steps apart,
/// and its window spans `dilation * (kernel - 1) + 1` steps.
#[test]
fn dilated_conv1d_sums_taps_dilation_apart() {
    let _rng = crate::torch_rng_lock();
    let vs = nn::VarStore::new(Device::Cpu);
    let args = [int("out", 1), int("kernel", 3), int("dilation", 2), arg("bias", ValueKind::Bool(false))];
    let conv = op("conv1d", &args);
    let layer = lower(&conv, &seq(Some(7), 1), &vs);
    let mut weight = vs.variables()["weight"].shallow_clone();
    assert_eq!(weight.size(), [1, 1, 3], "[out, F, kernel]: dilation adds no weights");
    tch::no_grad(|| {
        let _ = weight.fill_(1.0);
    });
    // Steps 0..7; windows (0, 2, 4), (1, 3, 5), (2, 4, 6).
    assert_eq!(values(&run_layer(&*layer, &counting(&[1, 7, 1]))), [6.0, 9.0, 12.0]);
    assert_eq!(conv.infer(&[seq(Some(7), 1)]).expect("fits").to_string(), "[B, 3, 1]");
    let err = conv.infer(&[seq(Some(4), 1)]).expect_err("4 steps < a window of 5");
    assert_eq!(err.expected, "at least 5 time steps (kernel 3 at dilation 2 spans 5)");
    let same = op("conv1d", &[int("out", 2), int("kernel", 3), int("dilation", 4), int("padding", 4)]);
    assert_eq!(same.infer(&[seq(None, 3)]).expect("symbolic").to_string(), "[B, T, 2]", "padding d keeps T");
    assert!(same.describe().contains("dilation=4"), "{}", same.describe());
}
