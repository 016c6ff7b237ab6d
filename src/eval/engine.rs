//! Scoring at catalogue scale: each tower runs once per clip (in chunks of clips), and the
//! joint part runs over (video, audio) pairs in chunks whose size a memory budget bounds.
//! Embedding models skip the pairs: their scores are one matrix product of normalised
//! embeddings.
//!
//! Everything here reports to an [`Observer`] (progress, a request to stop) and prints
//! nothing; the CLI draws the progress bar.

use super::EvalError;
use super::protocol::Direction;
use crate::lower::{Encoded, Model, feed};
use avc_lang::ast::OutputKind;
use avc_lang::check::Tower;
use std::ops::Range;
use tch::{Device, Kind, Tensor};

/// One modality's clips: ids and uint8 features, row-major `[n, steps, dim]`.
#[derive(Debug, Clone, Copy)]
pub struct Stream<'a> {
    pub ids: &'a [String],
    pub data: &'a [u8],
    pub steps: usize,
    pub dim: usize,
    /// Each clip's own steps, the rest padding; empty when every clip fills `steps`.
    pub lengths: &'a [u32],
}

impl<'a> Stream<'a> {
    /// Clips `rows` of the stream, without copying.
    pub fn range(&self, rows: Range<usize>) -> Stream<'a> {
        let clip = self.steps * self.dim;
        let lengths = if self.lengths.is_empty() { self.lengths } else { &self.lengths[rows.clone()] };
        Stream { ids: &self.ids[rows.clone()], data: &self.data[rows.start * clip..rows.end * clip], lengths, ..*self }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// What a long scoring job is doing, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Running one tower over the clips.
    Encode(Tower),
    /// Running the joint part (or the embedding product) over pairs.
    Pairs,
}

/// Receives progress and may ask the work to stop (Ctrl-C). The default does nothing.
pub trait Observer {
    /// `done` of `total` units (clips or pairs) of `stage` are finished.
    fn progress(&mut self, _stage: Stage, _done: u64, _total: u64) {}
    /// Checked between chunks; `true` ends the work with [`EvalError::Interrupted`].
    fn should_stop(&self) -> bool {
        false
    }
}

/// An observer that watches nothing.
pub struct Silent;
impl Observer for Silent {}

/// On the CPU, larger chunks than this are slower, not faster: scoring `final` on 150 x 150
/// pairs took 3.8 s with chunks of 32 to 128 pairs (estimated 32-128 MiB), 13.8 s with 512
/// and 28.8 s with 2048 (allocations too large for the allocator to reuse, and the caches).
const CPU_CHUNK_BYTES: u64 = 128 << 20;

/// The default memory budget: a quarter of the memory available now, at most 2 GiB, at least
/// 256 MiB. The cap makes the default the same on most machines, so chunking, and with it
/// every byte of the results, does not depend on how busy the machine happens to be.
pub fn default_budget() -> u64 {
    const MIB: u64 = 1 << 20;
    let available = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map(|kib| kib * 1024)
        .unwrap_or(8 << 30);
    (available / 4).clamp(256 * MIB, 2048 * MIB)
}

/// Sizes such as `512M` (`--max-memory`), parsed where `avc check` parses them too.
pub use avc_lang::host::parse_size;

/// What a scoring job will cost, said before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    pub videos: u64,
    pub audios: u64,
    /// Pairs the joint part (or the embedding product) scores.
    pub pairs: u64,
    /// Multiply-adds of the towers (once per clip) plus the joint part (once per pair);
    /// `None` when a node's cost depends on a size only the data knows.
    pub macs: Option<u64>,
    /// Pairs run at once under the memory budget (at most all of them).
    pub chunk: u64,
}

/// Scores pairs with a lowered model under a memory budget.
pub struct Scorer<'m> {
    model: &'m Model,
    kind: OutputKind,
    budget: u64,
    /// Steps per clip of the data (the longer stream's, when they differ), for models whose
    /// sizes depend on a symbolic length: an upper bound of what a pair's values take.
    steps: usize,
    /// Multiply-adds per clip of each tower and per pair of the joint part, if known.
    macs: Option<(u64, u64, u64)>,
    /// Pairs per chunk when set (training's `eval_chunk`), instead of the budget's choice.
    fixed_chunk: Option<u64>,
}

impl<'m> Scorer<'m> {
    /// A scorer ranking by the model's first output, for clips of `steps` steps. `macs` are
    /// the compiled model's multiply-adds per video clip, audio clip and pair (see
    /// [`tower_macs`]).
    pub fn new(
        model: &'m Model,
        budget: u64,
        steps: usize,
        macs: Option<(u64, u64, u64)>,
    ) -> Result<Scorer<'m>, EvalError> {
        let kind = model.outputs.first().ok_or(EvalError::NoOutput)?.kind;
        Ok(Scorer { model, kind, budget: budget.max(1 << 20), steps, macs, fixed_chunk: None })
    }

    /// A scorer that runs exactly `pairs` pairs a chunk (training's validation, whose
    /// `eval_chunk` setting says how many), with the default budget for the towers.
    pub fn with_pair_chunk(model: &'m Model, steps: usize, pairs: u64) -> Result<Scorer<'m>, EvalError> {
        let scorer = Scorer::new(model, default_budget(), steps, None)?;
        Ok(Scorer { fixed_chunk: Some(pairs.max(1)), ..scorer })
    }

    /// How the first output's scores sort.
    /// Whether every pair of two catalogues is cheap to score: an embeddings model (a matrix
    /// product) or a joint part with a matrix form (a grid, `lower::Model::score_grid`).
    pub fn scores_every_pair_cheaply(&self) -> bool {
        self.kind == OutputKind::Embeddings || self.model.scores_as_grid()
    }

    pub fn kind(&self) -> OutputKind {
        self.kind
    }

    /// Pairs per chunk: the budget over the bytes a pair takes (twice, for the values alive
    /// at once and libtorch's workspace), a power of two so that the chunking, and with it
    /// the floating-point results, changes only when the budget changes a lot. For a joint
    /// model, its joint part's values per pair; for embeddings, a score and its copy in
    /// the top-k (a block of queries times every candidate).
    pub fn pair_chunk(&self) -> u64 {
        if let Some(pairs) = self.fixed_chunk {
            return pairs;
        }
        let per_pair = if self.kind == OutputKind::Embeddings {
            8
        } else {
            8 * self.model.joint_elems_per_pair(self.steps as i64).max(1) as u64
        };
        floor_pow2((self.working_set() / per_pair).max(1))
    }

    /// Bytes one chunk may use: the budget, and on the CPU at most [`CPU_CHUNK_BYTES`] per
    /// intra-op thread (evaluation scores a chunk's pairs on that many threads at once,
    /// each with its share).
    fn working_set(&self) -> u64 {
        if self.model.device() == Device::Cpu {
            let threads = u64::try_from(tch::get_num_threads()).unwrap_or(1).max(1);
            self.budget.min(CPU_CHUNK_BYTES.saturating_mul(threads))
        } else {
            self.budget
        }
    }

    /// The cost of scoring `pairs` pairs of these streams.
    pub fn cost(&self, videos: &Stream, audios: &Stream, pairs: u64) -> Cost {
        let (nv, na) = (videos.len() as u64, audios.len() as u64);
        let macs = self.macs.and_then(|(v, a, j)| {
            let towers = v.checked_mul(nv)?.checked_add(a.checked_mul(na)?)?;
            let joint = if self.kind == OutputKind::Embeddings { 0 } else { j.checked_mul(pairs)? };
            towers.checked_add(joint)
        });
        Cost { videos: nv, audios: na, pairs, macs, chunk: self.pair_chunk().min(pairs.max(1)) }
    }

    /// Clips a tower runs at once over clips of `steps` steps, under the budget.
    pub fn encode_chunk(&self, tower: Tower, steps: usize) -> usize {
        let per_clip = 8 * self.model.tower_elems_per_clip(tower, steps as i64).max(1) as u64;
        floor_pow2((self.working_set() / per_clip).clamp(1, 4096)) as usize
    }

    /// Query rows scored at once against `candidates` candidates ([`Scorer::for_blocks`]'s
    /// blocks): whole rows, as many as a chunk of pairs holds, at least one.
    pub fn rows_per_block(&self, candidates: u64) -> u64 {
        (self.pair_chunk() / candidates.max(1)).max(1)
    }

    /// Runs one tower over all clips of a stream, in chunks of clips bounded by the budget.
    pub fn encode(&self, tower: Tower, stream: &Stream, obs: &mut dyn Observer) -> Result<Encoded, EvalError> {
        let _guard = tch::no_grad_guard();
        let device = self.model.device();
        let chunk = self.encode_chunk(tower, stream.steps);
        let n = stream.len();
        let mut parts = Vec::new();
        for start in (0..n).step_by(chunk) {
            if obs.should_stop() {
                return Err(EvalError::Interrupted);
            }
            let rows: Vec<usize> = (start..(start + chunk).min(n)).collect();
            // On the CPU the chunk stays bytes: the model dequantizes a slice at a time, on
            // the thread that encodes it (two_tower's 10,000 video clips: 4.9 GB of floats
            // written in four passes by one thread, before).
            let x = if device == Device::Cpu {
                feed::gather_bytes(stream.data, stream.steps, stream.dim, &rows)?
            } else {
                feed::gather(stream.data, stream.steps, stream.dim, &rows, device)?
            };
            let lengths = (!stream.lengths.is_empty())
                .then(|| {
                    let own: Vec<i64> = rows.iter().map(|&r| i64::from(stream.lengths[r])).collect();
                    Tensor::f_from_slice(&own)
                })
                .transpose()?;
            let mut enc = self.model.encode_with(tower, &x, lengths.as_ref(), false)?;
            if device != Device::Cpu && n > chunk {
                // A catalogue's tower values may not fit on the device: keep them on the host.
                enc = enc.to_device(Device::Cpu)?;
            }
            parts.push(enc);
            obs.progress(Stage::Encode(tower), (start + rows.len()) as u64, n as u64);
        }
        if parts.is_empty() {
            return Err(EvalError::Empty(tower.label()));
        }
        Ok(Encoded::cat(&parts)?)
    }

    /// The `[Nv, Na]` score matrix of every video against every audio, row-major.
    pub fn matrix(&self, video: &Encoded, audio: &Encoded, obs: &mut dyn Observer) -> Result<Vec<f32>, EvalError> {
        let mut out = Vec::with_capacity((video.clips * audio.clips).max(0) as usize);
        self.for_blocks(video, audio, Direction::VideoToAudio, 0..video.clips as u64, obs, &mut |_, block| {
            out.extend(to_vec(block)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// Scores query rows `queries` (videos for `v2a`, audios for `a2v`) against every
    /// candidate of the other modality, a block of queries at a time, calling
    /// `sink(first_query, block)` with each `[queries, candidates]` block in order.
    pub fn for_blocks(
        &self,
        video: &Encoded,
        audio: &Encoded,
        direction: Direction,
        queries: Range<u64>,
        obs: &mut dyn Observer,
        sink: &mut dyn FnMut(u64, &Tensor) -> Result<(), EvalError>,
    ) -> Result<(), EvalError> {
        let _guard = tch::no_grad_guard();
        let (query_enc, candidate_enc) = match direction {
            Direction::VideoToAudio => (video, audio),
            Direction::AudioToVideo => (audio, video),
        };
        let m = candidate_enc.clips.max(0) as u64;
        let total = (queries.end - queries.start) * m;
        // Whole rows of queries against every candidate: an embeddings model scored one
        // row per block here (10,000 blocks for 10,000 queries, 1.0 s against 0.2 s) when
        // its chunk was counted in rows and divided by the candidates again.
        let rows_per_block = self.rows_per_block(m);
        let candidates = if self.kind == OutputKind::Embeddings {
            Some(self.embeddings(candidate_enc)?.f_transpose(0, 1)?)
        } else {
            None
        };
        let mut row = queries.start;
        while row < queries.end {
            if obs.should_stop() {
                return Err(EvalError::Interrupted);
            }
            let end = (row + rows_per_block).min(queries.end);
            let block = match &candidates {
                Some(c) => {
                    let rows = Tensor::f_arange_start(row as i64, end as i64, (Kind::Int64, query_enc.device()))?;
                    self.embeddings(&query_enc.select(&rows)?)?.f_matmul(&c.f_to_device(query_enc.device())?)?
                }
                None => self.pair_scores_rows(video, audio, direction, row..end)?,
            };
            sink(row, &block)?;
            obs.progress(Stage::Pairs, (end - queries.start) * m, total);
            row = end;
        }
        Ok(())
    }

    /// Scores given pairs `(video_rows[p], audio_rows[p])`, in chunks; `[P]` scores.
    pub fn pairs(
        &self,
        video: &Encoded,
        audio: &Encoded,
        video_rows: &[i64],
        audio_rows: &[i64],
        obs: &mut dyn Observer,
    ) -> Result<Vec<f32>, EvalError> {
        let _guard = tch::no_grad_guard();
        let chunk = self.pair_chunk() as usize;
        let total = video_rows.len() as u64;
        let mut out = Vec::with_capacity(video_rows.len());
        let device = self.model.device();
        let embeddings = if self.kind == OutputKind::Embeddings {
            Some((self.embeddings(video)?, self.embeddings(audio)?))
        } else {
            None
        };
        for (vr, ar) in video_rows.chunks(chunk).zip(audio_rows.chunks(chunk)) {
            if obs.should_stop() {
                return Err(EvalError::Interrupted);
            }
            let scores = match &embeddings {
                Some((v, a)) => {
                    let vi = Tensor::f_from_slice(vr)?.f_to(v.device())?;
                    let ai = Tensor::f_from_slice(ar)?.f_to(a.device())?;
                    v.f_index_select(0, &vi)?.f_mul(&a.f_index_select(0, &ai)?)?.f_sum_dim_intlist(
                        1,
                        false,
                        Kind::Float,
                    )?
                }
                None => {
                    let vi = Tensor::f_from_slice(vr)?.f_to(device)?;
                    let ai = Tensor::f_from_slice(ar)?.f_to(device)?;
                    self.joint(video, audio, &vi, &ai)?
                }
            };
            out.extend(to_vec(&scores)?);
            obs.progress(Stage::Pairs, out.len() as u64, total);
        }
        Ok(out)
    }

    /// The joint part's scores for query rows `rows` against every candidate:
    /// `[rows, candidates]`.
    fn pair_scores_rows(
        &self,
        video: &Encoded,
        audio: &Encoded,
        direction: Direction,
        rows: Range<u64>,
    ) -> Result<Tensor, EvalError> {
        let m = if direction == Direction::VideoToAudio { audio.clips } else { video.clips };
        let device = self.model.device();
        // A joint part with a matrix form scores the block as a grid, gathering nothing.
        let queries = Tensor::f_arange_start(rows.start as i64, rows.end as i64, (Kind::Int64, Device::Cpu))?;
        let all = Tensor::f_arange(m, (Kind::Int64, Device::Cpu))?;
        let grid = match direction {
            Direction::VideoToAudio => self.model.score_grid(video, audio, &queries, &all)?,
            Direction::AudioToVideo => {
                self.model.score_grid(video, audio, &all, &queries)?.map(|g| g.f_transpose(0, 1)).transpose()?
            }
        };
        if let Some(grid) = grid {
            return Ok(grid);
        }
        let p = Tensor::f_arange_start((rows.start as i64) * m, (rows.end as i64) * m, (Kind::Int64, device))?;
        let (query, candidate) = (p.f_floor_divide_scalar(m)?, p.f_remainder(m)?);
        let (vi, ai) = match direction {
            Direction::VideoToAudio => (query, candidate),
            Direction::AudioToVideo => (candidate, query),
        };
        Ok(self.joint(video, audio, &vi, &ai)?.f_reshape([(rows.end - rows.start) as i64, m])?)
    }

    /// The first output's score per pair, `[P]`.
    fn joint(&self, video: &Encoded, audio: &Encoded, vi: &Tensor, ai: &Tensor) -> Result<Tensor, EvalError> {
        let device = self.model.device();
        // Tower values kept on the host for a large catalogue travel per chunk.
        let (video, audio) = (video.on(device, vi)?, audio.on(device, ai)?);
        let (v, vrows) = video.as_parts(vi);
        let (a, arows) = audio.as_parts(ai);
        let out = self.model.score_pairs(v, a, vrows, arows, false)?;
        let score = out.first().and_then(|o| o.first()).ok_or(EvalError::NoOutput)?;
        Ok(score.f_flatten(0, -1)?)
    }

    /// Unit-length embeddings of the first output for an encoding: `[N, D]` (cosine
    /// similarity is then a dot product).
    pub fn embeddings(&self, enc: &Encoded) -> Result<Tensor, EvalError> {
        let e = self.model.embedding(enc).ok_or(EvalError::NoOutput)?.f_flatten(1, -1)?;
        Ok(e.f_div(&e.f_norm_scalaropt_dim(2, [1], true)?.f_clamp_min(1e-8)?)?)
    }
}

/// An encoding moved to the model's device for one chunk of pairs, with the row indices
/// that address it there.
pub(crate) struct OnDevice<'a> {
    owned: Option<(Encoded, Tensor)>,
    borrowed: &'a Encoded,
}

impl OnDevice<'_> {
    fn as_parts<'s>(&'s self, rows: &'s Tensor) -> (&'s Encoded, &'s Tensor) {
        match &self.owned {
            Some((enc, rows)) => (enc, rows),
            None => (self.borrowed, rows),
        }
    }
}

impl Encoded {
    /// The rows `rows` needs, on `device`: the encoding itself when it is there already;
    /// otherwise only the rows the chunk reads, renumbered.
    pub(crate) fn on(&self, device: Device, rows: &Tensor) -> Result<OnDevice<'_>, tch::TchError> {
        if self.device() == device {
            return Ok(OnDevice { owned: None, borrowed: self });
        }
        let (unique, inverse, _) = rows.f_unique_dim(0, true, true, false)?;
        let picked = self.select(&unique.f_to_device(self.device())?)?.to_device(device)?;
        Ok(OnDevice { owned: Some((picked, inverse.f_to_device(device)?)), borrowed: self })
    }
}

/// Multiply-adds per video clip, per audio clip and per pair, from the compiled model's
/// per-node counts; `None` if any node's count is unknown. `factored` names the layers whose
/// input map runs factored in evaluation ([`Model::factored_nodes`]): their moved multiply-adds
/// count once per clip of each tower, not per pair, as they run.
pub fn tower_macs(compiled: &avc_lang::compile::Compiled, factored: &[&str]) -> Option<(u64, u64, u64)> {
    let checked = &compiled.checked;
    let mut sums = [0u64; 3];
    for (i, macs) in checked.macs.iter().enumerate() {
        let slot = match checked.towers.get(i)? {
            Tower::Video | Tower::Other => 0,
            Tower::Audio => 1,
            Tower::Joint => 2,
        };
        sums[slot] = sums[slot].checked_add(u64::try_from((*macs)?).ok()?)?;
    }
    let sites = avc_lang::check::factor_sites(&compiled.graph, checked);
    for site in sites.iter().filter(|s| factored.contains(&compiled.graph.node(s.node).name.as_str())) {
        let moved = u64::try_from(site.macs_per_pair?).ok()?;
        sums[2] = sums[2].checked_sub(moved)?;
        for (slot, tower) in [(0, Tower::Video), (1, Tower::Audio)] {
            sums[slot] = sums[slot].checked_add(u64::try_from(site.share_macs(tower)?).ok()?)?;
        }
    }
    Some((sums[0], sums[1], sums[2]))
}

fn floor_pow2(n: u64) -> u64 {
    if n == 0 { 1 } else { 1 << (63 - n.leading_zeros()) }
}

pub(crate) fn to_vec(t: &Tensor) -> Result<Vec<f32>, EvalError> {
    let t = t.f_to_kind(Kind::Float)?.f_to_device(Device::Cpu)?.f_flatten(0, -1)?;
    Ok(Vec::<f32>::try_from(&t)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("4G"), Ok(4 << 30));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("2048"), Ok(2048));
        assert!(parse_size("-1G").is_err());
        assert!(parse_size("lots").is_err());
    }

    /// An embeddings model scores whole blocks of query rows: 400 candidates under a 1 MiB
    /// budget are 131,072 pairs a chunk, so 327 rows a block (when the chunk was counted in
    /// rows and divided by the candidates again, every block was one row).
    #[test]
    fn an_embeddings_model_scores_many_rows_per_block() {
        let arch = "inputs: {video: [4, 3], audio: [4, 2]}\nnodes:\n  - {name: v, op: linear, in: video, out: 5}\n  \
                    - {name: vp, op: mean, in: v}\n  - {name: a, op: linear, in: audio, out: 5}\n  \
                    - {name: ap, op: mean, in: a}\noutputs:\n  - {name: e, kind: embeddings, from: [vp, ap]}\n";
        let c = avc_lang::compile::compile(&avc_lang::source::SourceFile::new("e.yaml", arch)).ok().expect("compiles");
        let model = crate::lower::lower(&c.graph, &c.checked, Device::Cpu).expect("lowers");
        let scorer = Scorer::new(&model, 1 << 20, 4, tower_macs(&c, &model.factored_nodes(false))).expect("a scorer");
        let n = 400;
        let ids: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
        let (vdata, adata) = (vec![7u8; n * 4 * 3], vec![9u8; n * 4 * 2]);
        let video = Stream { ids: &ids, data: &vdata, steps: 4, dim: 3, lengths: &[] };
        let audio = Stream { ids: &ids, data: &adata, steps: 4, dim: 2, lengths: &[] };
        let v = scorer.encode(Tower::Video, &video, &mut Silent).expect("encodes");
        let a = scorer.encode(Tower::Audio, &audio, &mut Silent).expect("encodes");
        let mut blocks = Vec::new();
        let mut sink = |first: u64, block: &Tensor| {
            blocks.push((first, block.size()));
            Ok(())
        };
        scorer.for_blocks(&v, &a, Direction::VideoToAudio, 0..n as u64, &mut Silent, &mut sink).expect("scores");
        assert_eq!(blocks, [(0, vec![327, 400]), (327, vec![73, 400])]);
    }

    /// The cost line counts a factored layer's map per clip of each tower, as it runs, not
    /// per pair: `f` maps 4 steps of 10 columns to 6 per pair (240 multiply-adds), or 4 x 5
    /// x 6 = 120 per video clip and per audio clip.
    #[test]
    fn a_factored_layer_costs_per_clip() {
        let arch = "inputs: {video: [4, 3], audio: [4, 2]}\nnodes:\n  - {name: v, op: linear, in: video, out: 5}\n  \
                    - {name: a, op: linear, in: audio, out: 5}\n  - {name: j, op: concat, in: [v, a]}\n  \
                    - {name: f, op: linear, in: j, out: 6}\n  - {name: m, op: mean, in: f}\n  \
                    - {name: head, op: linear, in: m, out: 1}\noutputs:\n  - {name: s, kind: logit, from: head}\n";
        let c = avc_lang::compile::compile(&avc_lang::source::SourceFile::new("s.yaml", arch)).ok().expect("compiles");
        let model = crate::lower::lower(&c.graph, &c.checked, Device::Cpu).expect("lowers");
        assert_eq!(model.factored_nodes(false), ["f"]);
        let (v0, a0, j0) = tower_macs(&c, &[]).expect("known counts");
        let (v1, a1, j1) = tower_macs(&c, &model.factored_nodes(false)).expect("known counts");
        assert_eq!((v1 - v0, a1 - a0, j0 - j1), (120, 120, 240));
    }
}
