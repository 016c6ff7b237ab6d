//! Clips of different lengths in one batch: padded at their ends, with each clip's own
//! length given, a model computes for every clip what it computes for that clip alone
//! (its length as the model's `T`). Pooling over time (`mean`, `max`, `sum`, `last`,
//! `softmax`, `attention`), attention's keys and length-keeping convolutions leave the
//! padded steps out, in the towers and in the joint part.

use avc::lower::{self, PairBatch};
use avc_lang::compile::compile;
use avc_lang::source::SourceFile;
use tch::{Device, Kind, Tensor};

const MODEL: &str = "
input video: [T, 6]
input audio: [T, 3]

vh = relu(linear(video, out: 8))
vseq = lstm(vh, hidden: 8)
vatt = self_attention(vseq, heads: 2)
vconv = conv1d(vatt, out: 8, kernel: 3, padding: \"same\")
ah = tanh(conv1d(audio, out: 8, kernel: 5, padding: \"causal\"))
aw = sum(softmax(linear(ah, out: 1), axis: 1) * ah)
apool = attention(ah, hidden: 4)
xatt = cross_attention(vconv, ah, heads: 2)
joint = concat(xatt, ah)
pooled = concat(mean(vconv), max(vh), last(vseq), aw, apool, mean(joint), max(joint))
head = linear(pooled, out: 1)

output match: logit(head)
";

fn model() -> lower::Model {
    let compiled = compile(&SourceFile::new("masks.avc", MODEL))
        .unwrap_or_else(|f| panic!("{}", avc_lang::diag::render_all(&f.diagnostics, &f.source, false)));
    tch::manual_seed(3);
    lower::lower(&compiled.graph, &compiled.checked, Device::Cpu).unwrap()
}

/// Four clips of 9, 4, 12 and 1 steps, padded to 12 with large values (padding that leaked
/// into any clip's numbers would show).
fn batch() -> (Vec<i64>, Tensor, Tensor) {
    let lengths = vec![9i64, 4, 12, 1];
    let video = Tensor::randn([4, 12, 6], (Kind::Float, Device::Cpu));
    let audio = Tensor::randn([4, 12, 3], (Kind::Float, Device::Cpu));
    for (row, &len) in lengths.iter().enumerate() {
        let _ = video.get(row as i64).narrow(0, len, 12 - len).fill_(7.5);
        let _ = audio.get(row as i64).narrow(0, len, 12 - len).fill_(-9.0);
    }
    (lengths, video, audio)
}

fn scores(model: &lower::Model, video: &Tensor, audio: &Tensor, lengths: Option<&Tensor>) -> Tensor {
    let n = video.size()[0];
    let rows = lower::aligned_rows(n as usize, Device::Cpu).unwrap();
    let lengths = lengths.map(|l| [l, l]);
    let batch = PairBatch { video, audio, video_rows: &rows, audio_rows: &rows, lengths };
    let _guard = tch::no_grad_guard();
    model.forward(&batch, false).unwrap().remove(0).remove(0).reshape([n])
}

#[test]
fn a_padded_batch_scores_each_clip_as_the_clip_alone() {
    let _rng = crate::torch_rng_lock();
    let model = model();
    let (lengths, video, audio) = batch();
    let given = Tensor::from_slice(&lengths);
    let masked = scores(&model, &video, &audio, Some(&given));
    for (row, &len) in lengths.iter().enumerate() {
        let clip = |x: &Tensor| x.narrow(0, row as i64, 1).narrow(1, 0, len);
        let alone = scores(&model, &clip(&video), &clip(&audio), None).double_value(&[0]);
        let batched = masked.double_value(&[row as i64]);
        assert!((alone - batched).abs() < 1e-5, "clip {row} ({len} steps): alone {alone}, in the batch {batched}");
    }
    // Not blind: without the lengths, the padding changes the short clips' scores.
    let unmasked = scores(&model, &video, &audio, None);
    let moved = (&unmasked - &masked).abs();
    assert!(moved.double_value(&[0]) > 1e-3 && moved.double_value(&[3]) > 1e-3, "{moved:?}");
    assert!(moved.double_value(&[2]) < 1e-5, "the full-length clip is not padded: {moved:?}");
}

#[test]
fn towers_encoded_with_lengths_score_pairs_of_different_clips() {
    // In evaluation the towers run once per clip and the joint part per pair: a pair's
    // joint pooling takes the shorter of its video's and its audio's lengths.
    let _rng = crate::torch_rng_lock();
    let model = model();
    let (lengths, video, audio) = batch();
    let given = Tensor::from_slice(&lengths);
    let _guard = tch::no_grad_guard();
    let v = model.encode_with(avc_lang::check::Tower::Video, &video, Some(&given), false).unwrap();
    let a = model.encode_with(avc_lang::check::Tower::Audio, &audio, Some(&given), false).unwrap();
    let (vr, ar) = (Tensor::from_slice(&[0i64, 1, 2]), Tensor::from_slice(&[1i64, 2, 3]));
    let pairs = model.score_pairs(&v, &a, &vr, &ar, false).unwrap().remove(0).remove(0).reshape([3]);
    for (p, (vi, ai)) in [(0i64, 1i64), (1, 2), (2, 3)].into_iter().enumerate() {
        // The pair alone: both clips cut to the shorter length, as the joint part sees them
        // (each tower still pools its own clip over its own length).
        let len = lengths[vi as usize].min(lengths[ai as usize]);
        let pv = video.narrow(0, vi, 1);
        let pa = audio.narrow(0, ai, 1);
        let pl = [Tensor::from_slice(&[lengths[vi as usize]]), Tensor::from_slice(&[lengths[ai as usize]])];
        let rows = lower::aligned_rows(1, Device::Cpu).unwrap();
        let batch =
            PairBatch { video: &pv, audio: &pa, video_rows: &rows, audio_rows: &rows, lengths: Some([&pl[0], &pl[1]]) };
        let alone = model.forward(&batch, false).unwrap().remove(0).remove(0).double_value(&[0, 0]);
        let scored = pairs.double_value(&[p as i64]);
        assert!((alone - scored).abs() < 1e-5, "pair {p} (joint length {len}): alone {alone}, scored {scored}");
    }
}

/// Clips shorter than a model's steps are padded when the data is opened, with each clip's
/// length kept: the eval engine scores them as it scores the same clips unpadded.
#[test]
fn clips_shorter_than_the_model_are_padded_and_left_out_when_scored() {
    use avc::data::source::{DataSource, Lists, ReadOptions};
    use avc::data::{open, sink, synth};
    let _rng = crate::torch_rng_lock();
    let tmp = crate::scratch_dir("masks-data");
    let knobs: Vec<String> =
        ["n_train=8", "n_test=5", "steps=9", "video_dim=6", "audio_dim=3"].map(String::from).to_vec();
    let cfg = synth::config(4, &knobs).unwrap();
    let dir = tmp.join("course");
    let mut out = sink::create(sink::Layout::Course, &dir, 10).unwrap();
    synth::write_to(&cfg, out.as_mut(), &mut |_, _| {}).unwrap();
    out.finish().unwrap();
    // A crop policy lets clips of another length in: longer ones are cut, shorter ones padded.
    let options = ReadOptions { crop: Some(avc::data::crop::Crop::Start), ..ReadOptions::default() };
    let source = DataSource::Dir { path: dir.clone(), lists: Lists::default(), options };
    let padded = open(&source, [Some([12, 6]), Some([12, 3])]).unwrap().test;
    assert_eq!(padded.steps(), [12, 12]);
    assert_eq!(padded.lengths, [vec![9; 5], vec![9; 5]], "each clip's own steps are kept");
    // `avc retrieve`'s lists of ids are fitted the same way and keep the lengths too.
    let listed: Vec<(usize, String)> = padded.video_ids.iter().enumerate().map(|(i, id)| (i + 1, id.clone())).collect();
    let list = std::path::Path::new("videos.txt");
    let (_, shape, lengths) = avc::data::open::read_ids(&source, &listed, list, "video", Some([12, 6])).unwrap();
    assert_eq!((shape, lengths), ([12, 6], vec![9; 5]));
    let exact = open(&source, [Some([9, 6]), Some([9, 3])]).unwrap().test;
    assert!(exact.lengths.iter().all(Vec::is_empty), "unpadded clips carry no lengths");

    let model = model();
    let matrix = |clips: &avc::data::Clips| {
        let scorer = avc::eval::engine::Scorer::new(&model, 1 << 28, clips.video_steps, None).unwrap();
        let (v, a) = avc::eval::apply::streams(clips);
        avc::eval::apply::score_matrix(&scorer, &v, &a, &mut avc::eval::engine::Silent).unwrap()
    };
    let (by_padded, by_exact) = (matrix(&padded), matrix(&exact));
    let diff = by_padded.iter().zip(&by_exact).map(|(p, e)| (p - e).abs()).fold(0.0f32, f32::max);
    assert!(diff < 1e-5, "padded and masked vs unpadded: {diff}");
    // Not blind: the same padded clips without their lengths score otherwise.
    let unmasked = avc::data::Clips { lengths: [Vec::new(), Vec::new()], ..padded };
    let moved = matrix(&unmasked).iter().zip(&by_exact).map(|(p, e)| (p - e).abs()).fold(0.0f32, f32::max);
    assert!(moved > 1e-3, "the padding is not seen at all: {moved}");
}
