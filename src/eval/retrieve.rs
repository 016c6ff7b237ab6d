//! Retrieval: for every query (a silent video, or an audio), its K best candidates of the
//! other modality with their scores: the course's deliverable, on clips that took no part
//! in training.
//!
//! Two-stage retrieval for joint models: an embeddings (two-tower) run, or one whose joint
//! part scores a grid (`lagged_cosine`), shortlists the candidates of each query by an exact
//! top-k of matrix products, and the joint model re-ranks only those: N k joint pairs
//! instead of N^2.

use super::EvalError;
use super::engine::{Observer, Scorer, Stream};
use super::evaldir::{csv_field, npy_f32};
use super::protocol::Direction;
use crate::data::course::{Listed, parse_list, read_list};
use crate::lower::Encoded;
use crate::train::DataSource;
use avc_lang::ast::OutputKind;
use avc_lang::check::Tower;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::Tensor;

/// One stream's clips, owned.
#[derive(Debug, Clone)]
pub struct OwnedStream {
    pub ids: Vec<String>,
    pub data: Vec<u8>,
    pub steps: usize,
    pub dim: usize,
    /// Each clip's own steps when some clip was padded; empty otherwise.
    pub lengths: Vec<u32>,
}

impl OwnedStream {
    pub fn view(&self) -> Stream<'_> {
        Stream { ids: &self.ids, data: &self.data, steps: self.steps, dim: self.dim, lengths: &self.lengths }
    }
}

/// Reads a list of clip ids from a file, or from standard input for `-`.
pub fn read_ids(list: &Path) -> Result<Vec<Listed>, EvalError> {
    if list.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| EvalError::Input(format!("cannot read the id list from standard input: {e}")))?;
        return parse_list(&text, Path::new("<stdin>")).map_err(|e| EvalError::Input(e.to_string()));
    }
    read_list(list).map_err(|e| EvalError::Input(e.to_string()))
}

/// Both lists' clips (`-` reads one list from standard input): the video clips of
/// `videos` and the audio clips of `audios`, each stream at its own length (the same one
/// when the model's inputs share a length symbol).
pub fn load_lists(
    source: &DataSource,
    compiled: &avc_lang::compile::Compiled,
    videos: &Path,
    audios: &Path,
) -> Result<(OwnedStream, OwnedStream), EvalError> {
    let video_ids = read_ids(videos)?;
    let audio_ids = read_ids(audios)?;
    let v = load_stream(source, compiled, &video_ids, videos, "video")?;
    let a = load_stream(source, compiled, &audio_ids, audios, "audio")?;
    if v.steps != a.steps && crate::data::expect::shared_length(compiled).is_some() {
        return Err(EvalError::Lengths { video: v.steps, audio: a.steps });
    }
    Ok((v, a))
}

/// The features of the clips `ids` of one stream, from a course-layout directory or TFRecord
/// shards (looked up by id), or, for the synthetic set, from the generated clips (test and
/// training ids alike).
pub fn load_stream(
    source: &DataSource,
    compiled: &avc_lang::compile::Compiled,
    ids: &[Listed],
    list: &Path,
    stream: &str,
) -> Result<OwnedStream, EvalError> {
    let expect = crate::data::expect::declared_shape(compiled, stream);
    let owned_ids: Vec<String> = ids.iter().map(|(_, id)| id.clone()).collect();
    match source {
        DataSource::Dir { .. } | DataSource::Yt8m { .. } => {
            let (data, [steps, dim], lengths) = crate::data::open::read_ids(source, ids, list, stream, expect)?;
            Ok(OwnedStream { ids: owned_ids, data, steps, dim, lengths })
        }
        DataSource::Synth { .. } => {
            let data = crate::data::expect::load(compiled, source)?;
            let crate::data::Split::Memory(train) = &data.train else {
                return Err(EvalError::Input("the synthetic set is always in memory".into()));
            };
            let mut by_id: HashMap<&str, (&crate::data::Clips, usize)> = HashMap::new();
            for clips in [train, &data.test] {
                let own = if stream == "audio" { &clips.audio_ids } else { &clips.video_ids };
                for (i, id) in own.iter().enumerate() {
                    by_id.entry(id.as_str()).or_insert((clips, i));
                }
            }
            let steps = if stream == "audio" { data.test.audio_steps } else { data.test.video_steps };
            let mut out = OwnedStream { ids: owned_ids, data: Vec::new(), steps, dim: 0, lengths: Vec::new() };
            for (line, id) in ids {
                let (clips, i) = by_id.get(id.as_str()).ok_or_else(|| {
                    EvalError::Input(format!(
                        "{}:{line}: clip '{id}' is not in the data ({}); its ids look like '{}'",
                        list.display(),
                        data.origin,
                        data.test.video_ids.first().map_or("", String::as_str)
                    ))
                })?;
                let (bytes, dim) = if stream == "audio" {
                    (clips.audio_clip(*i), clips.audio_dim)
                } else {
                    (clips.video_clip(*i), clips.video_dim)
                };
                out.data.extend_from_slice(bytes);
                out.dim = dim;
            }
            Ok(out)
        }
    }
}

/// One candidate of a query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    pub id: String,
    pub score: f32,
}

/// A query and its best candidates, best first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranked {
    pub query: String,
    pub candidates: Vec<Hit>,
}

/// How a shortlist fared, over the queries whose true candidate is known (see [`truths`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ShortlistRecall {
    pub k: usize,
    /// Queries whose true candidate is known.
    pub queries: usize,
    /// Queries whose true candidate was among their shortlist.
    pub survived: usize,
}

/// The result of a retrieval.
#[derive(Debug, Clone)]
pub struct Retrieval {
    pub direction: Direction,
    pub ranked: Vec<Ranked>,
    pub shortlist: Option<ShortlistRecall>,
}

/// A second model that shortlists candidates for the first.
pub struct Shortlist<'a> {
    pub scorer: &'a Scorer<'a>,
    pub k: usize,
}

/// Pairs a retrieval scores: every query against every candidate, or against its shortlist.
pub fn planned_pairs(shortlist: Option<&Shortlist>, direction: Direction, videos: usize, audios: usize) -> u64 {
    match shortlist {
        Some(s) => (if direction == Direction::VideoToAudio { videos } else { audios } * s.k) as u64,
        None => (videos * audios) as u64,
    }
}

impl<'a> Shortlist<'a> {
    /// A shortlist of `k` candidates per query from `scorer`'s run, once it is known to fit:
    /// a model that scores every pair cheaply (an embeddings model, or a joint part with a
    /// matrix form such as `lagged_cosine`'s), and `k` within the candidates of `direction`
    /// among `(videos, audios)`. A joint model that runs per pair would cost what the full
    /// ranking costs, so it is refused.
    pub fn new(
        scorer: &'a Scorer<'a>,
        k: usize,
        direction: Direction,
        (videos, audios): (usize, usize),
    ) -> Result<Shortlist<'a>, EvalError> {
        if !scorer.scores_every_pair_cheaply() {
            return Err(EvalError::Input(
                concat!(
                    "--shortlist: expected a run that scores every pair cheaply: a first output of kind ",
                    "`embeddings` (a two-tower model) or a joint part with a matrix form (`lagged_cosine`, ",
                    "as architectures/sync_towers.avc); this run's joint part runs once per pair, which ",
                    "costs as much as the full ranking"
                )
                .into(),
            ));
        }
        let candidates = if direction == Direction::VideoToAudio { audios } else { videos };
        if k == 0 || k > candidates {
            return Err(EvalError::Input(format!(
                "--shortlist-k {k}: expected 1 to {candidates} (the number of candidates)"
            )));
        }
        Ok(Shortlist { scorer, k })
    }
}

/// Ranks every query's candidates and keeps the best `top`.
pub fn retrieve(
    scorer: &Scorer,
    videos: &Stream,
    audios: &Stream,
    direction: Direction,
    top: usize,
    shortlist: Option<&Shortlist>,
    obs: &mut dyn Observer,
) -> Result<Retrieval, EvalError> {
    let (queries, candidates) = match direction {
        Direction::VideoToAudio => (videos, audios),
        Direction::AudioToVideo => (audios, videos),
    };
    let limit = shortlist.map_or(candidates.len(), |s| s.k);
    if top == 0 || top > limit {
        return Err(EvalError::Input(format!(
            "--top {top}: expected 1 to {limit} (the {})",
            if shortlist.is_some() { "shortlist's length, --shortlist-k" } else { "number of candidates" }
        )));
    }
    let venc = scorer.encode(Tower::Video, videos, obs)?;
    let aenc = scorer.encode(Tower::Audio, audios, obs)?;
    let (best, shortlist_recall) = match shortlist {
        None => (top_k(scorer, &venc, &aenc, direction, top, obs)?, None),
        Some(s) => {
            let sv = s.scorer.encode(Tower::Video, videos, obs)?;
            let sa = s.scorer.encode(Tower::Audio, audios, obs)?;
            let listed = top_k(s.scorer, &sv, &sa, direction, s.k, obs)?;
            let truth = truths(queries.ids, candidates.ids);
            let known: Vec<(usize, usize)> = truth.iter().enumerate().filter_map(|(q, t)| Some((q, (*t)?))).collect();
            let recall = (!known.is_empty()).then(|| ShortlistRecall {
                k: s.k,
                queries: known.len(),
                survived: known.iter().filter(|&&(q, t)| listed[q].iter().any(|&(c, _)| c == t)).count(),
            });
            (rerank(scorer, &venc, &aenc, direction, &listed, top, obs)?, recall)
        }
    };
    let ranked = best
        .into_iter()
        .enumerate()
        .map(|(q, hits)| Ranked {
            query: queries.ids[q].clone(),
            candidates: hits.into_iter().map(|(c, score)| Hit { id: candidates.ids[c].clone(), score }).collect(),
        })
        .collect();
    Ok(Retrieval { direction, ranked, shortlist: shortlist_recall })
}

/// Each query's true candidate, where known: line i of two lists of the same length (the
/// course's test lists pair that way, whatever their ids), otherwise the candidate with the
/// query's id (a clip's video and audio share its id), if there is one.
pub fn truths(queries: &[String], candidates: &[String]) -> Vec<Option<usize>> {
    if queries.len() == candidates.len() {
        return (0..queries.len()).map(Some).collect();
    }
    let index: std::collections::HashMap<&str, usize> =
        candidates.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    queries.iter().map(|id| index.get(id.as_str()).copied()).collect()
}

/// Every query's best `k` candidates (index, score), best first: an exact top-k over blocks
/// of the score matrix, which is never held whole.
pub fn top_k(
    scorer: &Scorer,
    video: &Encoded,
    audio: &Encoded,
    direction: Direction,
    k: usize,
    obs: &mut dyn Observer,
) -> Result<Vec<Vec<(usize, f32)>>, EvalError> {
    let n = if direction == Direction::VideoToAudio { video.clips } else { audio.clips } as u64;
    let largest = scorer.kind().higher_is_better();
    let mut out = Vec::with_capacity(n as usize);
    scorer.for_blocks(video, audio, direction, 0..n, obs, &mut |_, block| {
        let (values, indices) = block.f_topk(k as i64, 1, largest, true)?;
        let values = super::engine::to_vec(&values)?;
        let indices = Vec::<i64>::try_from(&indices.f_flatten(0, -1)?.f_to_device(tch::Device::Cpu)?)?;
        for (v, i) in values.chunks(k).zip(indices.chunks(k)) {
            out.push(i.iter().zip(v).map(|(&c, &s)| (c as usize, s)).collect());
        }
        Ok(())
    })?;
    Ok(out)
}

/// Scores each query's shortlisted candidates with the joint model; keeps the best `top`.
fn rerank(
    scorer: &Scorer,
    video: &Encoded,
    audio: &Encoded,
    direction: Direction,
    listed: &[Vec<(usize, f32)>],
    top: usize,
    obs: &mut dyn Observer,
) -> Result<Vec<Vec<(usize, f32)>>, EvalError> {
    let mut query_rows = Vec::new();
    let mut candidate_rows = Vec::new();
    for (q, list) in listed.iter().enumerate() {
        for &(c, _) in list {
            query_rows.push(q as i64);
            candidate_rows.push(c as i64);
        }
    }
    let scores = match direction {
        Direction::VideoToAudio => scorer.pairs(video, audio, &query_rows, &candidate_rows, obs)?,
        Direction::AudioToVideo => scorer.pairs(video, audio, &candidate_rows, &query_rows, obs)?,
    };
    let higher = scorer.kind().higher_is_better();
    let mut out = Vec::with_capacity(listed.len());
    let mut at = 0;
    for list in listed {
        let mut scored: Vec<(usize, f32)> =
            list.iter().zip(&scores[at..at + list.len()]).map(|(&(c, _), &s)| (c, s)).collect();
        at += list.len();
        scored.sort_by(|a, b| {
            let ord = if higher { b.1.total_cmp(&a.1) } else { a.1.total_cmp(&b.1) };
            ord.then(a.0.cmp(&b.0))
        });
        scored.truncate(top);
        out.push(scored);
    }
    Ok(out)
}

/// Writes `ranking.csv` (one row per query and candidate) and `ranking.jsonl` (one line per
/// query) as the directory `dir`, replaced whole; returns their paths. The caller has
/// claimed `dir` ([`crate::outputs::claim`]).
pub fn write_ranking(r: &Retrieval, dir: &Path) -> Result<Vec<PathBuf>, EvalError> {
    let mut csv = String::from("query_id,rank,candidate_id,score\n");
    let mut jsonl = String::new();
    for q in &r.ranked {
        for (k, hit) in q.candidates.iter().enumerate() {
            csv.push_str(&format!("{},{},{},{}\n", csv_field(&q.query), k + 1, csv_field(&hit.id), hit.score));
        }
        let line = serde_json::json!({ "query": q.query, "direction": r.direction, "candidates": q.candidates });
        jsonl.push_str(&format!("{line}\n"));
    }
    let mut files = vec![("ranking.csv", csv.into_bytes()), ("ranking.jsonl", jsonl.into_bytes())];
    if let Some(s) = &r.shortlist {
        let json = serde_json::to_string_pretty(s).unwrap_or_default();
        files.push(("shortlist.json", format!("{json}\n").into_bytes()));
    }
    let fill = |tmp: &Path| files.iter().try_for_each(|(name, bytes)| write_atomic(&tmp.join(name), bytes).map(drop));
    avc_lang::output::write_dir(dir, crate::outputs::RANKING, fill, io_error)?;
    Ok(files.iter().map(|(name, _)| dir.join(name)).collect())
}

fn io_error(path: &Path, e: std::io::Error) -> EvalError {
    EvalError::write(path.display(), e)
}

/// Writes each stream's unit-length embeddings (`video_embeddings.npy`, `[Nv, D]` float32;
/// likewise audio) with their ids (`video_ids.txt`, `audio_ids.txt`) into `dir`: the
/// hand-off to a vector index. Inner products of these rows are avc's cosine scores. The
/// directory is replaced whole; the caller has claimed it ([`crate::outputs::claim`]).
pub fn write_embeddings(
    scorer: &Scorer,
    videos: &Stream,
    audios: &Stream,
    dir: &Path,
    obs: &mut dyn Observer,
) -> Result<Vec<PathBuf>, EvalError> {
    if scorer.kind() != OutputKind::Embeddings {
        return Err(EvalError::Input(
            "--embeddings-out needs a model whose first output is `embeddings` (a two-tower model)".into(),
        ));
    }
    let mut files = Vec::new();
    for (tower, stream, name) in [(Tower::Video, videos, "video"), (Tower::Audio, audios, "audio")] {
        let enc = scorer.encode(tower, stream, obs)?;
        let e: Tensor = scorer.embeddings(&enc)?;
        let size = e.size();
        let values = super::engine::to_vec(&e)?;
        let npy = npy_f32(&values, size[0] as usize, size.get(1).copied().unwrap_or(1) as usize)
            .map_err(|e| EvalError::write(dir.display(), e))?;
        files.push((format!("{name}_embeddings.npy"), npy));
        let ids = super::evaldir::lines(stream.ids);
        files.push((format!("{name}_ids.txt"), ids.into_bytes()));
    }
    let fill = |tmp: &Path| files.iter().try_for_each(|(name, bytes)| write_atomic(&tmp.join(name), bytes).map(drop));
    avc_lang::output::write_dir(dir, crate::outputs::EMBEDDINGS, fill, io_error)?;
    Ok(files.iter().map(|(name, _)| dir.join(name)).collect())
}

/// Writes a file atomically (see [`crate::atomic`]), creating its directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<PathBuf, EvalError> {
    let fail = |e: std::io::Error| EvalError::write(path.display(), e);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    avc_lang::atomic::write(path, bytes).map_err(fail)?;
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::truths;

    fn ids(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn lists_of_one_length_pair_by_line_others_by_id() {
        assert_eq!(truths(&ids(&["v1", "v2"]), &ids(&["a9", "a8"])), [Some(0), Some(1)]);
        assert_eq!(truths(&ids(&["c", "x", "a"]), &ids(&["a", "b", "c", "d"])), [Some(2), None, Some(0)]);
        assert_eq!(truths(&ids(&["x"]), &ids(&["a", "b"])), [None]);
    }
}
