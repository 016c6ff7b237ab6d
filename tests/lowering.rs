//! The tower-aware forward pass (towers once per clip, joint nodes per pair) computes
//! exactly what running every pair through the whole model computes.

use avc::lower::{self, PairBatch};
use avc_lang::compile::compile;
use avc_lang::source::SourceFile;
use tch::{Device, Kind, Tensor};

const MODEL: &str = "
inputs: {video: [10, 6], audio: [10, 3]}
nodes:
  - {name: v, op: lstm, in: video, hidden: 5}
  - {name: vn, op: batchnorm, in: v}
  - {name: a, op: linear, in: audio, out: 5}
  - {name: j, op: concat, in: [vn, a]}
  - {name: c, op: conv1d, in: j, out: 4, kernel: 3}
  - {name: p, op: max, in: c}
  - {name: head, op: linear, in: p, out: 1}
outputs:
  - {name: match, kind: logit, from: head}
";

#[test]
fn tower_forward_equals_per_pair_forward() {
    let _rng = crate::torch_rng_lock();
    let compiled = compile(&SourceFile::new("m.yaml", MODEL)).unwrap_or_else(|_| panic!("compiles"));
    tch::manual_seed(7);
    let model = lower::lower(&compiled.graph, &compiled.checked, Device::Cpu).unwrap();
    let video = Tensor::randn([4, 10, 6], (Kind::Float, Device::Cpu));
    let audio = Tensor::randn([4, 10, 3], (Kind::Float, Device::Cpu));
    let vi = Tensor::from_slice(&[0i64, 1, 2, 3, 0, 1, 2, 3]);
    let ai = Tensor::from_slice(&[0i64, 1, 2, 3, 2, 0, 3, 1]);
    let towers = PairBatch { video: &video, audio: &audio, video_rows: &vi, audio_rows: &ai, lengths: None };
    let by_towers = model.forward(&towers, false).unwrap().remove(0).remove(0);
    // The same pairs, materialised: every pair's clips gathered before the model runs.
    let (pv, pa) = (video.index_select(0, &vi), audio.index_select(0, &ai));
    let rows = lower::aligned_rows(8, Device::Cpu).unwrap();
    let naive = PairBatch { video: &pv, audio: &pa, video_rows: &rows, audio_rows: &rows, lengths: None };
    let by_pairs = model.forward(&naive, false).unwrap().remove(0).remove(0);
    assert_eq!(by_towers.size(), [8, 1]);
    let diff = (by_towers - by_pairs).abs().max().double_value(&[]);
    assert!(diff < 1e-5, "outputs differ by {diff}");
}

const SHARED: &str = "
inputs: {video: [10, 6], audio: [10, 6]}
nodes:
  - {name: vfc, op: linear, in: video, out: 4}
  - {name: afc, op: linear, in: audio, out: 4, share: vfc}
  - {name: d, op: concat, in: [vfc, afc]}
  - {name: p, op: max, in: d}
  - {name: head, op: linear, in: p, out: 1}
outputs:
  - {name: match, kind: logit, from: head}
";

#[test]
fn a_shared_node_applies_its_owners_weights() {
    let _rng = crate::torch_rng_lock();
    let compiled = crate::training::compile_text(SHARED);
    let afc = compiled.graph.find("afc").expect("afc exists");
    assert_eq!(compiled.checked.params[afc.index()], 0, "a sharer owns no parameters");
    let model = lower::lower(&compiled.graph, &compiled.checked, Device::Cpu).unwrap();
    let mut names: Vec<String> = model.vs.variables().into_keys().collect();
    names.sort();
    assert_eq!(names, ["head.bias", "head.weight", "vfc.bias", "vfc.weight"]);
    // The same clip as video and as audio: both towers must compute the same features,
    // so the joint max over [vfc, afc] sees two equal halves.
    let clip = Tensor::randn([1, 10, 6], (Kind::Float, Device::Cpu));
    let rows = lower::aligned_rows(1, Device::Cpu).unwrap();
    let batch = PairBatch { video: &clip, audio: &clip, video_rows: &rows, audio_rows: &rows, lengths: None };
    let out = model.forward(&batch, false).unwrap().remove(0).remove(0);
    let vars = model.vs.variables();
    let features = clip.matmul(&vars["vfc.weight"].tr()) + &vars["vfc.bias"];
    let pooled = Tensor::cat(&[&features, &features], 2).amax([1], false);
    let expected = pooled.matmul(&vars["head.weight"].tr()) + &vars["head.bias"];
    let diff = (out - expected).abs().max().double_value(&[]);
    assert!(diff < 1e-5, "shared forward differs by {diff}");
}

const TOWERS: &str = "
inputs: {video: [10, 6], audio: [10, 3]}
nodes:
  - {name: v, op: gru, in: video, hidden: 4, output: last}
  - {name: a, op: linear, in: audio, out: 4}
  - {name: am, op: max, in: a}
  - {name: j, op: concat, in: [v, am]}
  - {name: head, op: linear, in: j, out: 1}
outputs:
  - {name: towers, kind: embeddings, from: [v, am]}
  - {name: match, kind: logit, from: head}
";

/// Many pairs in evaluation run in slices (a cache-sized batch at a time): the result is
/// that of scoring them a few at a time, per-pair outputs in order, per-clip ones once.
#[test]
fn many_pairs_are_scored_in_slices_with_the_same_result() {
    let _rng = crate::torch_rng_lock();
    let _guard = tch::no_grad_guard();
    for text in [MODEL, TOWERS] {
        let compiled = crate::training::compile_text(text);
        tch::manual_seed(7);
        let model = lower::lower(&compiled.graph, &compiled.checked, Device::Cpu).unwrap();
        let video = Tensor::randn([25, 10, 6], (Kind::Float, Device::Cpu));
        let audio = Tensor::randn([25, 10, 3], (Kind::Float, Device::Cpu));
        let v = model.encode(avc_lang::check::Tower::Video, &video, false).unwrap();
        let a = model.encode(avc_lang::check::Tower::Audio, &audio, false).unwrap();
        let p = Tensor::arange(625, (Kind::Int64, Device::Cpu));
        let (vi, ai) = (p.floor_divide_scalar(25), p.remainder(25));
        let all = model.score_pairs(&v, &a, &vi, &ai, false).unwrap();
        let parts: Vec<Vec<Vec<Tensor>>> = (0..25)
            .map(|row| model.score_pairs(&v, &a, &vi.narrow(0, row * 25, 25), &ai.narrow(0, row * 25, 25), false))
            .collect::<Result<_, _>>()
            .unwrap();
        for (k, output) in all.iter().enumerate() {
            for (i, t) in output.iter().enumerate() {
                let pieces: Vec<&Tensor> = parts.iter().map(|p| &p[k][i]).collect();
                let per_pair = model.outputs[k].kind != avc_lang::ast::OutputKind::Embeddings;
                let expected = if per_pair { Tensor::cat(&pieces, 0) } else { pieces[0].shallow_clone() };
                assert_eq!(t.size(), expected.size(), "output {k}, tensor {i}");
                let diff = (t - expected).abs().max().double_value(&[]);
                assert!(diff < 1e-5, "output {k}, tensor {i} differs by {diff}");
            }
        }
        assert_eq!(all[0][0].size()[0], if text == MODEL { 625 } else { 25 });
    }
}

const SHARED_INSTANCE: &str = "
input video: [10, 6]
input audio: [10, 6]
block tower(x) {
    proj = linear(x, out: 5)
    rnn = gru(proj, hidden: width(proj), output: \"last\")
    emb = linear(rnn, out: 4)
    return emb
}
v = tower(video)
a = tower(audio, share: v)
d = l2_distance(v, a)
output gap: distance(d)
";

/// `share:` on a block use: the second tower owns no variables and computes, on the same
/// clip, exactly what the first does (so their distance is the epsilon under the root).
#[test]
fn a_shared_instance_is_the_owner_called_again() {
    let _rng = crate::torch_rng_lock();
    let compiled = match compile(&SourceFile::new("s.avc", SHARED_INSTANCE)) {
        Ok(c) => c,
        Err(f) => panic!("{}", avc_lang::diag::render_all(&f.diagnostics, &f.source, false)),
    };
    for inner in ["a.proj", "a.rnn", "a.emb"] {
        let id = compiled.graph.find(inner).expect("expanded");
        assert_eq!(compiled.checked.params[id.index()], 0, "{inner} owns no parameters");
    }
    let model = lower::lower(&compiled.graph, &compiled.checked, Device::Cpu).unwrap();
    let names: Vec<String> = model.vs.variables().into_keys().collect();
    assert!(names.iter().all(|n| n.starts_with("v.")), "{names:?}");
    assert_eq!(names.len(), 2 + 4 + 2, "proj, gru and emb: weights and biases");
    let clip = Tensor::randn([2, 10, 6], (Kind::Float, Device::Cpu));
    let rows = lower::aligned_rows(2, Device::Cpu).unwrap();
    let batch = PairBatch { video: &clip, audio: &clip, video_rows: &rows, audio_rows: &rows, lengths: None };
    let gap = model.forward(&batch, false).unwrap().remove(0).remove(0);
    assert!(gap.abs().max().double_value(&[]) < 1e-5, "{gap}");
    let other = Tensor::randn([2, 10, 6], (Kind::Float, Device::Cpu));
    let batch = PairBatch { video: &clip, audio: &other, video_rows: &rows, audio_rows: &rows, lengths: None };
    let gap = model.forward(&batch, false).unwrap().remove(0).remove(0);
    assert!(gap.min().double_value(&[]) > 1e-4, "different clips are apart: {gap}");
}

/// Many clips in evaluation run through their tower in slices: the encoding is that of
/// encoding them a few at a time.
#[test]
fn many_clips_are_encoded_in_slices_with_the_same_result() {
    let _rng = crate::torch_rng_lock();
    let _guard = tch::no_grad_guard();
    for text in [MODEL, TOWERS] {
        let compiled = crate::training::compile_text(text);
        tch::manual_seed(9);
        let model = lower::lower(&compiled.graph, &compiled.checked, Device::Cpu).unwrap();
        let video = Tensor::randn([150, 10, 6], (Kind::Float, Device::Cpu));
        let audio = Tensor::randn([150, 10, 3], (Kind::Float, Device::Cpu));
        let encode = |tower, clips: &Tensor| model.encode(tower, clips, false).unwrap();
        let in_parts = |tower, clips: &Tensor| {
            let parts: Vec<_> = (0..3).map(|k| encode(tower, &clips.narrow(0, k * 50, 50))).collect();
            avc::lower::Encoded::cat(&parts).unwrap()
        };
        let (video_tower, audio_tower) = (avc_lang::check::Tower::Video, avc_lang::check::Tower::Audio);
        let whole = (encode(video_tower, &video), encode(audio_tower, &audio));
        let parts = (in_parts(video_tower, &video), in_parts(audio_tower, &audio));
        assert_eq!(whole.0.clips, 150);
        let rows = Tensor::arange(150, (Kind::Int64, Device::Cpu));
        let back = rows.flip([0]);
        let a = model.score_pairs(&whole.0, &whole.1, &rows, &back, false).unwrap();
        let b = model.score_pairs(&parts.0, &parts.1, &rows, &back, false).unwrap();
        for (x, y) in a.iter().flatten().zip(b.iter().flatten()) {
            assert_eq!(x.size(), y.size());
            let diff = (x - y).abs().max().double_value(&[]);
            assert!(diff < 1e-5, "encodings differ by {diff}");
        }
    }
}

/// `MODEL` lowered with seed `seed`, and `n` random video and audio clips of its shapes
/// (drawn under the generator's lock, so no other test's draws interleave).
fn seeded_model_and_clips(seed: i64, n: i64) -> (lower::Model, Tensor, Tensor) {
    let compiled = compile(&SourceFile::new("m.yaml", MODEL)).unwrap_or_else(|_| panic!("compiles"));
    let _rng = crate::torch_rng_lock();
    tch::manual_seed(seed);
    let model = lower::lower(&compiled.graph, &compiled.checked, Device::Cpu).unwrap();
    let video = Tensor::randn([n, 10, 6], (Kind::Float, Device::Cpu));
    (model, video, Tensor::randn([n, 10, 3], (Kind::Float, Device::Cpu)))
}

/// `got` holds one score for each of `pairs` pairs, each within `tolerance` of `want`'s.
fn assert_same_scores(got: &Tensor, want: &Tensor, pairs: i64, tolerance: f64) {
    assert_eq!(got.size(), [pairs, 1]);
    let diff = (got - want).abs().max().double_value(&[]);
    assert!(diff < tolerance, "outputs differ by {diff}");
}

#[test]
fn pairs_scored_on_worker_threads_equal_one_threads_result() {
    // Evaluation scores the pairs of a call on as many threads as libtorch has intra-op
    // threads (at least 32 pairs each); with one, on the caller's thread only.
    let (model, video, audio) = seeded_model_and_clips(11, 20);
    let _guard = tch::no_grad_guard();
    let rows = Tensor::arange(400, (Kind::Int64, Device::Cpu));
    let (vi, ai) = (rows.remainder(20), rows.floor_divide_scalar(20));
    let score = |threads: i32| {
        tch::set_num_threads(threads);
        let v = model.encode(avc_lang::check::Tower::Video, &video, false).unwrap();
        let a = model.encode(avc_lang::check::Tower::Audio, &audio, false).unwrap();
        model.score_pairs(&v, &a, &vi, &ai, false).unwrap().remove(0).remove(0)
    };
    let threads = tch::get_num_threads();
    let (alone, shared) = (score(1), score(3));
    let after = tch::get_num_threads();
    tch::set_num_threads(threads);
    assert_eq!(after, 3, "the caller's thread count is restored");
    assert_same_scores(&alone, &shared, 400, 1e-5);
}

#[test]
fn clips_encoded_on_worker_threads_equal_one_threads_encoding() {
    // Evaluation encodes a call's clips as runs of whole 64-clip slices on as many threads
    // as libtorch has intra-op threads; 200 clips on 3 threads: runs of 2, 1 and 1 slices
    // (the last one short).
    let (model, video, audio) = seeded_model_and_clips(12, 200);
    let _guard = tch::no_grad_guard();
    let rows = Tensor::arange(200, (Kind::Int64, Device::Cpu));
    let threads = tch::get_num_threads();
    let encode = |n: i32| {
        tch::set_num_threads(n);
        let v = model.encode(avc_lang::check::Tower::Video, &video, false).unwrap();
        let a = model.encode(avc_lang::check::Tower::Audio, &audio, false).unwrap();
        (v, a)
    };
    let (alone, shared) = (encode(1), encode(3));
    let after = tch::get_num_threads();
    // Both scored on one thread: only the encodings can differ.
    tch::set_num_threads(1);
    let score = |(v, a): &(lower::Encoded, lower::Encoded)| {
        assert_eq!((v.clips, a.clips), (200, 200));
        model.score_pairs(v, a, &rows, &rows.flip([0]), false).unwrap().remove(0).remove(0)
    };
    let (alone, shared) = (score(&alone), score(&shared));
    tch::set_num_threads(threads);
    assert_eq!(after, 3, "the caller's thread count is restored");
    assert_same_scores(&alone, &shared, 200, 1e-5);
}

#[test]
fn clips_given_as_bytes_encode_as_their_dequantized_floats() {
    // A catalogue's chunk reaches `encode` as uint8 features, dequantized a slice at a time
    // (on worker threads when there are several slices): the same encodings as floats.
    let (model, _, audio) = seeded_model_and_clips(13, 150);
    let _guard = tch::no_grad_guard();
    let bytes: Vec<u8> = (0..150 * 10 * 6).map(|i| (i * 31 % 256) as u8).collect();
    let rows: Vec<usize> = (0..150).collect();
    let q = avc::lower::feed::gather_bytes(&bytes, 10, 6, &rows).unwrap();
    let x = avc::lower::feed::gather(&bytes, 10, 6, &rows, Device::Cpu).unwrap();
    let a = model.encode(avc_lang::check::Tower::Audio, &audio, false).unwrap();
    let pairs = Tensor::arange(150, (Kind::Int64, Device::Cpu));
    let score = |clips: &Tensor| {
        let v = model.encode(avc_lang::check::Tower::Video, clips, false).unwrap();
        model.score_pairs(&v, &a, &pairs, &pairs, false).unwrap().remove(0).remove(0)
    };
    let (from_bytes, from_floats) = (score(&q), score(&x));
    assert_same_scores(&from_bytes, &from_floats, 150, 1e-6);
}
