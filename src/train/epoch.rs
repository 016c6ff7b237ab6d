//! The epoch loop: batches of pairs, the optimiser step, evaluation, checkpoints, and
//! stopping (completion, early stopping, Ctrl-C, divergence).

use super::events::{Event, Observer};
use super::held::{Held, evaluate_in};
use super::learned::TrainingVars;
use super::loss;
use super::optim::Optimizer;
use super::profile::{Phase, Profiler};
use super::report::tensorboard::EventWriter;
use super::schedule::Schedule;
use super::shard::{self, Planned, Sharding};
use super::{Ending, RunReport, TrainConfig, TrainError, TrainOptions};
use crate::data::crop::Pass;
use crate::data::prefetch::prefetch;
use crate::data::{Clips, Split, TrainingData};
use crate::dist::{self, Group};
use crate::eval::Ranking;
use crate::interrupt;
use crate::lower::{self, Model, PairBatch, feed};
use crate::random::at as mix;
use crate::run::checkpoint::{Checkpoint, TrainingState};
use crate::run::rundir::{RunDir, RunDirError};
use avc_lang::compile::Compiled;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;
use tch::Tensor;

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: i64,
    pub train_loss: f64,
    pub val_loss: f64,
    pub val: Ranking,
    pub test_loss: f64,
    pub test: Ranking,
    pub lr: f64,
    pub seconds: f64,
    /// InfoNCE's temperature at the end of the epoch, when it is learned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// fp16: the epoch's optimiser steps skipped because gradients overflowed, and the loss
    /// scale at its end (PyTorch's `GradScaler`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped_steps: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_scale: Option<f64>,
}

/// A training run in progress.
pub(super) struct Session<'a> {
    model: Model,
    data: &'a TrainingData,
    train_idx: Vec<usize>,
    /// Validation clips: rows of the training split, read group by group.
    val_idx: Vec<usize>,
    /// Which of `train_idx` this rank trains on (see [`super::shard`]).
    sharding: Sharding,
    cfg: &'a TrainConfig,
    opts: &'a TrainOptions,
    run: RunDir,
    optimizer: Optimizer,
    /// A learned temperature, the weights' average: what training keeps besides the model.
    training: TrainingVars,
    schedule: Schedule,
    state: TrainingState,
    history: Vec<EpochMetrics>,
    /// TensorBoard scalars (a new event file per session; TensorBoard merges them); rank 0's
    /// only.
    events: Option<EventWriter>,
    /// The data-parallel job this process is a rank of, if any (see [`crate::dist`]).
    group: Option<&'static Group>,
    /// The architecture's summary table, for summary.md.
    table: String,
    arch_name: String,
    /// Per-phase step times (`--profile`; off: no cost).
    profile: Profiler,
    /// The node a failed backward pass or optimiser step is reported with.
    suspect: Option<super::Suspect>,
    /// Where progress and results go (the CLI's terminal, or nowhere).
    observer: &'a mut dyn Observer,
}

impl<'a> Session<'a> {
    /// Builds the model and optimiser; restores them and the training state from a
    /// checkpoint directory when resuming.
    pub fn start(
        compiled: &Compiled,
        data: &'a TrainingData,
        cfg: &'a TrainConfig,
        opts: &'a TrainOptions,
        run: RunDir,
        from: Option<&Path>,
        observer: &'a mut dyn Observer,
    ) -> Result<Session<'a>, TrainError> {
        tch::manual_seed(cfg.seed as i64);
        let mut model = lower::lower(&compiled.graph, &compiled.checked, opts.device)?;
        model.set_precision(cfg.precision);
        if let Some(record) = super::init::prepare(&model.vs, opts, &run, from.is_some())? {
            observer.event(Event::WeightsLoaded(&record));
        }
        let (train_idx, val_idx) = data.split(cfg.validation, cfg.seed);
        if !model.vs.trainable_variables().iter().any(Tensor::requires_grad) {
            return Err(TrainError::NothingToTrain);
        }
        let mut training = TrainingVars::new(&model, cfg, |o| cfg.loss_weight(o) > 0.0)?;
        let params = super::groups::params(&model.vs, training.trained(), cfg)?;
        for line in super::groups::describe(&params) {
            observer.event(Event::Note(&line));
        }
        let mut optimizer = Optimizer::with_params(params, cfg.optimizer.clone())?;
        let mut schedule = Schedule::new(cfg.schedule.to_config(), cfg.lr, cfg.epochs);
        let mut state = TrainingState { epoch: 1, lr: schedule.lr_at_start(1, cfg.lr), ..Default::default() };
        let mut history = Vec::new();
        if let Some(dir) = from {
            let resume_err =
                |source: crate::report::Cause| TrainError::Resume { run: run.path.display().to_string(), source };
            crate::run::weights::load_exact(&model.vs, &dir.join(crate::run::checkpoint::WEIGHTS))
                .map_err(|e| resume_err(e.into()))?;
            let saved = Checkpoint::read_tensors(&dir.join(crate::run::checkpoint::OPTIMIZER))?;
            optimizer.load_state(&saved).map_err(|e| resume_err(e.into()))?;
            let training_file = dir.join(crate::run::checkpoint::TRAINING);
            let kept =
                if training_file.is_file() { Checkpoint::read_tensors(&training_file)? } else { Default::default() };
            training.load(model.vs.variables(), &kept).map_err(|e| resume_err(e.into()))?;
            state = Checkpoint::read_state(dir)?;
            schedule.state = state.schedule.clone();
            if dist::is_leader() {
                history = keep_history(&run, state.epoch, state.epoch_complete)?;
            }
        }
        let group = dist::group();
        if let Some(g) = group {
            super::distributed::agree(g, compiled, data, cfg, opts)?;
            super::distributed::share_weights(g, &model, &training)?;
        }
        let job = group.map(|g| (g.rank, g.world));
        let Planned { sharding, note } = shard::plan_for(&data.train, &train_idx, job, cfg.batch_size, cfg.accumulate);
        if let Some(note) = note {
            observer.event(Event::Note(&note));
        }
        let events = match group {
            Some(g) if g.rank != 0 => None,
            _ => Some(EventWriter::create(&run.path).map_err(|e| RunDirError::new(&run.path, e))?),
        };
        let table = avc_lang::check::render_table(&compiled.graph, &compiled.checked);
        let arch_name = opts.arch_path.file_name().and_then(|n| n.to_str()).unwrap_or("model").to_string();
        let mut profile = Profiler::new(opts.profile, opts.device);
        if group.is_some() {
            profile.set_all_reduce_bytes(dist::grads::bytes(optimizer.vars(), &[0.0; STEP_EXTRAS]));
        }
        Ok(Session {
            model,
            data,
            train_idx,
            val_idx,
            sharding,
            cfg,
            opts,
            run,
            optimizer,
            training,
            schedule,
            state,
            history,
            events,
            group,
            table,
            arch_name,
            profile,
            suspect: super::Suspect::of(compiled, cfg.batch_size),
            observer,
        })
    }

    /// Trains until the last epoch, early stopping, an interruption or divergence.
    pub fn run(mut self) -> Result<RunReport, TrainError> {
        let (mut epoch, mut skip) = if self.state.epoch_complete && self.state.epoch > 0 {
            (self.state.epoch + 1, 0)
        } else {
            (self.state.epoch.max(1), self.state.batches_done)
        };
        let mut ending = Ending::Completed;
        while epoch <= self.cfg.epochs {
            let started = Instant::now();
            if skip == 0 {
                self.state.lr = self.schedule.lr_at_start(epoch, self.state.lr);
                self.state.loss_sum = 0.0;
                self.state.loss_count = 0;
                self.state.skipped_steps = 0;
            }
            self.state.epoch = epoch;
            self.state.epoch_complete = false;
            if self.train_epoch(epoch, skip)? {
                self.save("last")?;
                ending = Ending::Interrupted;
                break;
            }
            let stop = match self.group {
                Some(g) => self.finish_epoch_in(g, epoch, started)?,
                None => {
                    let held = self.evaluate_held()?;
                    self.finish_epoch(epoch, started, held)?
                }
            };
            if stop {
                ending = Ending::EarlyStopped;
                break;
            }
            epoch += 1;
            skip = 0;
        }
        let best = self.history.iter().find(|m| m.epoch == self.state.best_epoch);
        let profile = if self.is_leader() { self.profile.write(&self.run)? } else { None };
        if let Some(g) = self.group {
            // Rank 0's store must outlive every rank's last call.
            g.barrier()?;
        }
        Ok(RunReport {
            dir: self.run.path.clone(),
            best_epoch: self.state.best_epoch,
            best_test: best.map(|m| m.test).unwrap_or_default(),
            epochs: self.history,
            ending,
            profile,
        })
    }

    /// Whether this process writes the run directory: rank 0, or a process alone.
    fn is_leader(&self) -> bool {
        self.group.is_none_or(|g| g.rank == 0)
    }

    fn save(&self, name: &str) -> Result<(), TrainError> {
        if !self.is_leader() {
            return Ok(());
        }
        let averaged = self.training.averaged_weights();
        Ok(Checkpoint::save(
            &self.run.path,
            name,
            &self.model.vs,
            averaged.as_deref(),
            &self.optimizer.state_tensors(),
            &self.training.checkpoint_tensors(),
            &self.state,
        )?)
    }

    /// The validation and test sets evaluated, split between the ranks in a job. With a
    /// learned temperature, held-out losses use its current value; with an average of the
    /// weights, the average is what is evaluated (and checkpointed).
    fn evaluate_held(&mut self) -> Result<[(Ranking, f64); 2], TrainError> {
        let cfg = TrainConfig { loss: self.training.settings(&self.cfg.loss), ..self.cfg.clone() };
        let (model, data, val_idx, group) = (&self.model, self.data, &self.val_idx, self.group);
        self.training.with_average(|| {
            Ok::<_, TrainError>([
                evaluate_in(model, Held::Rows(&data.train, val_idx), &cfg, group)?,
                evaluate_in(model, Held::Clips(&data.test), &cfg, group)?,
            ])
        })
    }

    /// Steps the schedule with the epoch's evaluation, writes checkpoints and the metrics
    /// line. Returns true when early stopping ends the run.
    fn finish_epoch(
        &mut self,
        epoch: i64,
        started: Instant,
        [(val, val_loss), (test, test_loss)]: [(Ranking, f64); 2],
    ) -> Result<bool, TrainError> {
        let lr = self.state.lr;
        let train_loss = self.state.loss_sum / self.state.loss_count.max(1) as f64;
        let temperature = self.training.temperature();
        let scaler = self.training.scaler();
        let skipped_steps = scaler.map(|_| self.state.skipped_steps);
        let loss_scale = scaler.map(|s| s.scale);
        let m = EpochMetrics {
            epoch,
            train_loss,
            val_loss,
            val,
            test_loss,
            test,
            lr,
            seconds: 0.0,
            temperature,
            skipped_steps,
            loss_scale,
        };
        let watched = self.cfg.monitor.pick(val.mrr, val.top1, val.top5);
        // Ties (common on small sets) go to the lower validation loss.
        let score = watched - 1e-6 * val_loss;
        let improved = self.state.best_score.is_none_or(|b| score > b);
        self.state.epoch_complete = true;
        self.state.lr = self.schedule.after_epoch(watched, lr);
        self.state.schedule = self.schedule.state.clone();
        let stop = self.state.early_stopping.should_stop(watched, self.cfg.early_stopping);
        // The metrics line goes first: a kill between the two leaves a line for an epoch whose
        // checkpoint did not land (dropped on resume, see `keep_history`), never a complete
        // epoch without its line.
        let m = EpochMetrics { seconds: started.elapsed().as_secs_f64(), ..m };
        self.run.append_line("metrics.jsonl", &serde_json::to_string(&m).unwrap_or_default())?;
        if improved {
            self.state.best_score = Some(score);
            self.state.best_epoch = epoch;
            self.save("best")?;
        }
        self.save("last")?;
        let profile_line = self.profile.end_epoch(epoch);
        self.observer.event(Event::EpochFinished {
            metrics: &m,
            epochs: self.cfg.epochs,
            best: improved,
            profile: profile_line.as_deref(),
        });
        if stop {
            self.observer
                .event(Event::EarlyStopped { monitor: self.cfg.monitor.name(), patience: self.cfg.early_stopping });
        }
        if let Some(events) = &mut self.events {
            events.log_epoch(&m).map_err(|e| RunDirError::new(events.path(), e))?;
        }
        self.history.push(m);
        self.write_pictures()?;
        Ok(stop)
    }

    /// Redraws curves.png and rewrites summary.md from the history so far, so even an
    /// interrupted run has both.
    fn write_pictures(&mut self) -> Result<(), TrainError> {
        let curves = self.run.file("curves.png");
        let picture = match super::report::curves::plot_curves(&self.history, &self.arch_name, &curves) {
            Ok(()) => Some("curves.png"),
            Err(e) => {
                self.observer.event(Event::Warning(&format!("could not draw {}: {e}", curves.display())));
                None
            }
        };
        let md = super::report::summary_md::summary_markdown(
            &self.arch_name,
            &self.table,
            &self.history,
            self.state.best_epoch,
            picture,
        );
        Ok(self.run.write("summary.md", md.as_bytes())?)
    }

    /// One pass over the training clips from batch `skip` on. Returns true when stopped
    /// by an interruption (the state then says which batch comes next).
    ///
    /// A streamed split's batches are read and decoded on background threads a few batches
    /// ahead; what a batch holds depends only on (seed, epoch, batch), so it is the same
    /// whoever reads it. Each batch is cut into [`Shares`]: one per rank and micro-batch
    /// (`train.accumulate`); this process reads and trains only its own. With the training
    /// files split by rank ([`Sharding::ByFile`]), the batches are this rank's own rows,
    /// cut into its micro-batches only.
    fn train_epoch(&mut self, epoch: i64, skip: usize) -> Result<bool, TrainError> {
        let seed = self.cfg.seed;
        let own = matches!(self.sharding, Sharding::ByFile(_));
        let shares = Shares::of(self.group, self.cfg.accumulate, own);
        let (order, rows_a_step) = match &self.sharding {
            Sharding::ByFile(mine) => (mine.order(seed, epoch), mine.per_step()),
            Sharding::ByIndex => {
                let mut order = self.train_idx.clone();
                order.shuffle(&mut ChaCha8Rng::seed_from_u64(mix(seed, epoch as u64, u64::MAX)));
                (order, self.cfg.batch_size as usize)
            }
        };
        let batches: Vec<&[usize]> =
            order.chunks(rows_a_step.max(1)).filter(|b| b.len() >= 2 * shares.cuts()).collect();
        let count = self.opts.max_batches.unwrap_or(usize::MAX).min(batches.len());
        self.observer.event(Event::EpochStarted {
            epoch,
            epochs: self.cfg.epochs,
            batches: count,
            done: skip.min(count),
        });
        let todo = &batches[skip.min(count)..count];
        // This rank's micro-batches, step after step.
        let micro: Vec<&[usize]> = todo.iter().flat_map(|b| shares.mine(b)).collect();
        let per_step = shares.per_rank;
        let data: &TrainingData = self.data;
        let pass = Pass::Train { seed, epoch: epoch as u64 };
        let workers = if data.train.is_streamed() { PREFETCH_WORKERS } else { 1 };
        // On the CPU the prefetch threads dequantize through the levels libtorch computes.
        let levels = if self.model.device() == tch::Device::Cpu { Some(feed::levels()?) } else { None };
        prefetch(
            micro.len(),
            workers,
            PREFETCH_DEPTH * per_step,
            |j| Batch::load(&data.train, micro[j], pass, levels.as_ref()),
            |jobs| {
                for j in 0..todo.len() {
                    let b = skip + j;
                    // Alone, an interruption stops before the batch; in a job, the ranks agree
                    // on it through the step's all-reduce and stop after it (below).
                    if (self.group.is_none() && interrupt::requested()) || self.opts.stop_at == Some((epoch, b)) {
                        self.state.batches_done = b;
                        return Ok(true);
                    }
                    self.profile.begin();
                    let mut step = Vec::with_capacity(per_step);
                    for _ in 0..per_step {
                        let Some(clips) = jobs.next() else { break };
                        step.push(clips?);
                    }
                    if step.len() < per_step {
                        break;
                    }
                    if self.train_batch(epoch, b, count, &shares, &step)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            },
        )
    }

    /// Gradient clipping (when asked for) and the optimiser's step; with fp16's loss
    /// scaling, the gradients unscaled first and the step skipped when they overflowed.
    fn optimizer_step(&mut self) -> Result<(), tch::TchError> {
        if !self.training.unscale(self.optimizer.vars())? {
            self.state.skipped_steps += 1;
            return Ok(());
        }
        if self.cfg.clip_value > 0.0 {
            self.optimizer.clip_grad_value(self.cfg.clip_value)?;
        }
        if self.cfg.clip_norm > 0.0 {
            self.optimizer.clip_grad_norm(self.cfg.clip_norm)?;
        }
        self.optimizer.step(self.state.lr)?;
        self.training.after_step()
    }

    /// One optimiser step on this rank's micro-batches of batch `b` (already read): their
    /// gradients summed (each loss divided by their number), then averaged over the ranks.
    /// Returns true when some rank was interrupted: every rank then stops after this step.
    fn train_batch(
        &mut self,
        epoch: i64,
        b: usize,
        batches: usize,
        shares: &Shares,
        micro: &[Batch],
    ) -> Result<bool, TrainError> {
        let stream = mix(self.cfg.seed, epoch as u64, b as u64);
        let log_scale = self.training.log_scale();
        self.optimizer.zero_grad();
        let mut value = 0.0;
        for (j, clips) in micro.iter().enumerate() {
            // Dropout and the shuffled negatives depend only on (seed, epoch, batch, share).
            let stream = shares.stream(stream, j);
            tch::manual_seed((stream >> 1) as i64);
            let (audio_rows, labels) = pairs(clips.len(), &mut ChaCha8Rng::seed_from_u64(stream));
            let loss = pair_loss(&self.model, clips, &audio_rows, &labels, self.cfg, log_scale, &mut self.profile)?;
            let part = loss.f_double_value(&[])?;
            self.profile.mark(Phase::Forward);
            if !part.is_finite() && self.group.is_none() {
                return Err(TrainError::Diverged { epoch, batch: b, loss: part, lr: self.state.lr });
            }
            value += part / micro.len() as f64;
            let loss = if micro.len() > 1 { loss.f_div_scalar(micro.len() as f64)? } else { loss };
            let scaled = self.training.scale_loss(&loss)?;
            scaled.f_backward().map_err(|e| super::Suspect::blame(&self.suspect, "backward pass", e))?;
            self.profile.mark(Phase::Backward);
        }
        let mut interrupted = false;
        if let Some(g) = self.group {
            let stop = f64::from(u8::from(interrupt::requested()));
            let extras: [f64; STEP_EXTRAS] = [value, stop];
            let sums = dist::grads::average(g, self.optimizer.vars(), &extras)?;
            value = sums[0] / g.world as f64;
            interrupted = sums[1] > 0.0;
            self.profile.mark(Phase::AllReduce);
            if !value.is_finite() {
                return Err(TrainError::Diverged { epoch, batch: b, loss: value, lr: self.state.lr });
            }
        }
        let stepped = self.optimizer_step();
        stepped.map_err(|e| super::Suspect::blame(&self.suspect, "optimiser step", e))?;
        self.profile.mark(Phase::Step);
        self.state.loss_sum += value;
        self.state.loss_count += 1;
        self.state.batches_done = b + 1;
        self.observer.event(Event::BatchDone {
            epoch,
            done: b + 1,
            batches,
            mean_loss: self.state.loss_sum / self.state.loss_count as f64,
        });
        Ok(interrupted)
    }

    /// Every rank evaluates its share of the held-out groups with rank 0's weights and
    /// buffers (batch-norm statistics are per rank while training), then rank 0 writes the
    /// checkpoints and metrics alone; every rank takes the training state (the schedule's
    /// learning rate, the best epoch, early stopping) from the store, so that all go on alike.
    fn finish_epoch_in(&mut self, g: &Group, epoch: i64, started: Instant) -> Result<bool, TrainError> {
        super::distributed::share_weights(g, &self.model, &self.training)?;
        let held = self.evaluate_held()?;
        let key = format!("avc/epoch/{epoch}");
        if g.rank == 0 {
            let stop = self.finish_epoch(epoch, started, held)?;
            let shared = Shared { state: self.state.clone(), stop };
            g.set(&key, &serde_json::to_vec(&shared).unwrap_or_default())?;
            return Ok(stop);
        }
        let bytes = super::distributed::wait_for(g, &key)?;
        let shared: Shared = serde_json::from_slice(&bytes).map_err(|e| dist::DistError {
            what: format!("reading rank 0's state after epoch {epoch}"),
            message: e.to_string(),
        })?;
        self.state = shared.state;
        self.schedule.state = self.state.schedule.clone();
        Ok(shared.stop)
    }
}

/// What rank 0 tells the others after an epoch.
#[derive(Serialize, Deserialize)]
struct Shared {
    state: TrainingState,
    stop: bool,
}

/// How a batch is cut between the ranks and their micro-batches: `count` near-equal
/// contiguous shares, rank r's being `r * per_rank ..` `(r + 1) * per_rank`; their union is
/// the batch one process takes. Each share builds its shuffled pairs inside itself. When the
/// batches are this rank's own rows already (`own`: training files split by rank), they are
/// only cut into the rank's micro-batches.
struct Shares {
    rank: usize,
    per_rank: usize,
    ranks: usize,
    own: bool,
}

impl Shares {
    fn of(group: Option<&Group>, accumulate: i64, own: bool) -> Shares {
        let per_rank = usize::try_from(accumulate).unwrap_or(1).max(1);
        Shares { rank: group.map_or(0, |g| g.rank), per_rank, ranks: group.map_or(1, |g| g.world), own }
    }

    fn count(&self) -> usize {
        self.per_rank * self.ranks
    }

    /// How many pieces each batch this rank is given is cut into.
    fn cuts(&self) -> usize {
        if self.own { self.per_rank } else { self.count() }
    }

    /// This rank's micro-batches of `batch`.
    fn mine<'b>(&self, batch: &'b [usize]) -> impl Iterator<Item = &'b [usize]> + use<'b> {
        let (n, cuts) = (batch.len(), self.cuts());
        let first = if self.own { 0 } else { self.rank * self.per_rank };
        (first..first + self.per_rank).map(move |s| &batch[s * n / cuts..(s + 1) * n / cuts])
    }

    /// The random stream of this rank's micro-batch `j` of a batch whose stream is `stream`:
    /// the batch's own when it is not cut (so one process trains as it always did).
    fn stream(&self, stream: u64, j: usize) -> u64 {
        let count = self.count();
        if count == 1 { stream } else { mix(stream, count as u64, (self.rank * self.per_rank + j) as u64) }
    }
}

/// The scalars each step's gradient all-reduce carries besides the gradients: the loss and
/// whether some rank was interrupted.
const STEP_EXTRAS: usize = 2;

/// Threads that read and decode a streamed split's next batches (an in-memory split has
/// one, which only dequantizes on the CPU).
const PREFETCH_WORKERS: usize = 2;

/// How many batches they may read ahead of training.
const PREFETCH_DEPTH: usize = 4;

/// A training batch, read (and on the CPU dequantized) by a prefetch thread.
///
/// The prefetch threads run no libtorch kernel: two threads entering OpenMP regions at once
/// hung libgomp in an earlier experiment (docs/performance.md). They allocate each tensor
/// (an allocation, no kernel) and write it in plain Rust through a table of the 256 levels,
/// which libtorch computed once on the training thread (so the values are exactly those
/// `feed::gather` gives). The training thread gets tensors ready to use, where it used to
/// copy, convert, scale and shift 35 MB per batch of `final`.
enum Batch {
    /// Dequantized features, `[clips, steps, dim]` CPU tensors.
    Dequantized { video: Tensor, audio: Tensor, clips: usize, lengths: Option<[Tensor; 2]> },
    /// The bytes, for a GPU: copied there as uint8 (4x less traffic) and dequantized there.
    Quantized(Clips),
}

impl Batch {
    fn load(split: &Split, rows: &[usize], pass: Pass, levels: Option<&[f32; 256]>) -> Result<Batch, TrainError> {
        let clips = split.gather(rows, pass)?;
        let Some(levels) = levels else { return Ok(Batch::Quantized(clips)) };
        let n = clips.len();
        Ok(Batch::Dequantized {
            video: feed::dequantize_bytes(
                &clips.video,
                &[n as i64, clips.video_steps as i64, clips.video_dim as i64],
                levels,
            )?,
            audio: feed::dequantize_bytes(
                &clips.audio,
                &[n as i64, clips.audio_steps as i64, clips.audio_dim as i64],
                levels,
            )?,
            clips: n,
            lengths: clips.length_tensors(tch::Device::Cpu)?,
        })
    }

    fn len(&self) -> usize {
        match self {
            Batch::Dequantized { clips, .. } => *clips,
            Batch::Quantized(clips) => clips.len(),
        }
    }

    /// Each clip's own steps per stream on `device`, when some clip of the batch is padded.
    fn lengths(&self, device: tch::Device) -> Result<Option<[Tensor; 2]>, tch::TchError> {
        match self {
            Batch::Dequantized { lengths: None, .. } => Ok(None),
            Batch::Dequantized { lengths: Some([v, a]), .. } => {
                Ok(Some([v.f_to_device(device)?, a.f_to_device(device)?]))
            }
            Batch::Quantized(c) => c.length_tensors(device),
        }
    }

    /// The video and audio tensors `[clips, steps, dim]` on `device`.
    fn tensors(&self, device: tch::Device) -> Result<(Tensor, Tensor), tch::TchError> {
        match self {
            Batch::Dequantized { video, audio, .. } => Ok((video.shallow_clone(), audio.shallow_clone())),
            Batch::Quantized(c) => {
                let rows: Vec<usize> = (0..c.len()).collect();
                Ok((
                    feed::gather(&c.video, c.video_steps, c.video_dim, &rows, device)?,
                    feed::gather(&c.audio, c.audio_steps, c.audio_dim, &rows, device)?,
                ))
            }
        }
    }
}

/// The metrics of epochs already done, from a resumed run's `metrics.jsonl`, which is
/// rewritten (atomically) to hold exactly those lines: a line of an epoch whose checkpoint
/// never landed (the process was killed in between), or a line cut short, is dropped, so the
/// epoch trained again is logged once.
fn keep_history(run: &RunDir, epoch: i64, complete: bool) -> Result<Vec<EpochMetrics>, TrainError> {
    let last_done = if complete { epoch } else { epoch - 1 };
    let text = std::fs::read_to_string(run.file("metrics.jsonl")).unwrap_or_default();
    let mut kept = String::new();
    let mut history = Vec::new();
    for line in text.lines() {
        if let Ok(m) = serde_json::from_str::<EpochMetrics>(line)
            && m.epoch <= last_done
            && !history.iter().any(|h: &EpochMetrics| h.epoch == m.epoch)
        {
            kept.push_str(line);
            kept.push('\n');
            history.push(m);
        }
    }
    if kept != text {
        run.write("metrics.jsonl", kept.as_bytes())?;
    }
    Ok(history)
}

/// The course's pairs for a batch of `b` clips: pair i < b is clip i with its own audio
/// (label 1); pair b + i is clip i with the audio of a random clip of the batch (label 1
/// only if the shuffle left it in place). Returns each pair's audio row and its label;
/// pair i's video row is `i % b`.
pub fn pairs(b: usize, rng: &mut ChaCha8Rng) -> (Vec<i64>, Vec<f32>) {
    let mut shuffled: Vec<i64> = (0..b as i64).collect();
    shuffled.shuffle(rng);
    let audio_rows: Vec<i64> = (0..b as i64).chain(shuffled).collect();
    let labels = audio_rows.iter().enumerate().map(|(i, &a)| f32::from(u8::from((i % b) as i64 == a))).collect();
    (audio_rows, labels)
}

/// The loss of a batch's pairs, summed over the model's outputs (each with the loss its
/// kind or `train.loss` names). Each clip's towers run once; the joint part runs per pair.
fn pair_loss(
    model: &Model,
    batch: &Batch,
    audio_rows: &[i64],
    labels: &[f32],
    cfg: &TrainConfig,
    log_scale: Option<&Tensor>,
    profile: &mut Profiler,
) -> Result<Tensor, TrainError> {
    let device = model.device();
    let b = batch.len() as i64;
    let (video, audio) = batch.tensors(device)?;
    let (video, audio) = (&video, &audio);
    let video_rows = Tensor::f_arange(2 * b, (tch::Kind::Int64, device))?.f_remainder(b)?;
    let audio_rows = Tensor::f_from_slice(audio_rows)?.f_to(device)?;
    let lengths = batch.lengths(device)?;
    let lengths = lengths.as_ref().map(|[v, a]| [v, a]);
    let pairs = PairBatch { video, audio, video_rows: &video_rows, audio_rows: &audio_rows, lengths };
    profile.mark(Phase::Data);
    let outputs = model.forward(&pairs, true)?;
    let target = Tensor::f_from_slice(labels)?.f_to(device)?;
    let mut total: Option<Tensor> = None;
    for (binding, tensors) in model.outputs.iter().zip(&outputs) {
        let weight = cfg.loss_weight(&binding.name);
        if weight == 0.0 {
            continue;
        }
        let kind = cfg.loss.for_output(binding.kind);
        let l = loss::batch_loss_scaled(kind, &cfg.loss, log_scale, tensors, &target)?;
        let l = if weight == 1.0 { l } else { l.f_mul_scalar(weight)? };
        total = Some(match total {
            Some(t) => t.f_add(&l)?,
            None => l,
        });
    }
    Ok(total.ok_or(crate::eval::EvalError::NoOutput)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch dequantized on a prefetch thread holds exactly what `feed::gather` gives the
    /// model (and what evaluation feeds it), for every byte value.
    #[test]
    fn prefetched_batches_hold_the_gathered_values() {
        // Audio at twice the video's rate: each stream keeps its own length.
        let (n, steps, vdim, adim) = (3, 4, 64, 32);
        let mut clips = Clips::empty([steps, 2 * steps], vdim, adim);
        clips.video = (0..n * steps * vdim).map(|i| (i * 7 % 256) as u8).collect();
        clips.audio = (0..n * 2 * steps * adim).map(|i| (i * 13 % 256) as u8).collect();
        clips.video_ids = (0..n).map(|i| format!("c{i}")).collect();
        clips.audio_ids = clips.video_ids.clone();
        let split = Split::Memory(clips);
        let rows = [2, 0];
        let levels = feed::levels().unwrap();
        let batch = Batch::load(&split, &rows, Pass::Eval, Some(&levels)).unwrap();
        assert!(matches!(batch, Batch::Dequantized { .. }) && batch.len() == 2);
        let (video, audio) = batch.tensors(tch::Device::Cpu).unwrap();
        let bytes = Batch::load(&split, &rows, Pass::Eval, None).unwrap();
        let (v_ref, a_ref) = bytes.tensors(tch::Device::Cpu).unwrap();
        assert_eq!(video.size(), [2, steps as i64, vdim as i64]);
        assert_eq!(audio.size(), [2, 2 * steps as i64, adim as i64]);
        assert!(video.equal(&v_ref) && audio.equal(&a_ref));
        let want: Vec<f32> = (0..=255u8).map(crate::data::dequantize).collect();
        assert_eq!(levels.to_vec(), want);
    }
}
