//! `--data` and its companions, shared by train, sweep, eval, retrieve and the data tools;
//! and `avc data synth | stats | convert`.

use avc::data::crop::Crop;
use avc::data::sink::Layout;
use avc::data::source::Overrides;
use avc::data::{self, DataSource};
use avc::outputs::{self, Kind};
use avc::report::{report, usage};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// List files and read options that refine a course directory or TFRecord source.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ListArgs {
    /// The training list (one clip id per line), instead of DIR/train.txt.
    #[arg(long, value_name = "FILE")]
    train_list: Option<PathBuf>,
    /// The test video list, instead of DIR/test_video.txt (line i pairs with the audio list's).
    #[arg(long, value_name = "FILE")]
    test_video_list: Option<PathBuf>,
    /// The test audio list, instead of DIR/test_audio.txt.
    #[arg(long, value_name = "FILE")]
    test_audio_list: Option<PathBuf>,
    /// Validation clips, instead of a share of the training clips.
    #[arg(long, value_name = "FILE")]
    val_list: Option<PathBuf>,
    /// Fit clips of other lengths to the model's: start, center or random (per epoch).
    #[arg(long, value_name = "POLICY")]
    crop: Option<Crop>,
    /// Skip unreadable TFRecords or course clips (counted in the run's manifest) instead of stopping.
    #[arg(long)]
    skip_corrupt: bool,
}

impl ListArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            train_list: self.train_list.clone(),
            test_video_list: self.test_video_list.clone(),
            test_audio_list: self.test_audio_list.clone(),
            val_list: self.val_list.clone(),
            crop: self.crop,
            skip_corrupt: self.skip_corrupt,
        }
    }
}

/// The source `--data TEXT` (with the list flags and `--synth` knobs) names; without
/// `--data`, the synthetic set of `default_seed` (or `None` when `default_seed` is `None`
/// and nothing was given: the caller has its own default).
pub fn source(
    data: Option<&str>,
    lists: &ListArgs,
    synth: &[String],
    default_seed: Option<u64>,
) -> Result<Option<DataSource>, String> {
    let parsed = data.map(DataSource::parse).transpose()?;
    let source = match (parsed, synth.is_empty(), default_seed) {
        (None, true, None) => None,
        (None, _, seed) => Some(DataSource::Synth { seed: seed.unwrap_or(1), knobs: synth.to_vec() }),
        (Some(DataSource::Synth { seed, .. }), false, _) => Some(DataSource::Synth { seed, knobs: synth.to_vec() }),
        (Some(_), false, _) => {
            return Err("--synth applies to the synthetic set, not to a data directory or TFRecords".into());
        }
        (Some(s), true, _) => Some(s),
    };
    match source {
        Some(s) => s.with(&lists.overrides()).map(Some),
        None if lists.overrides().is_empty() => Ok(None),
        None => Err("--train-list, --test-video-list, --test-audio-list, --val-list, --crop and --skip-corrupt \
                     need --data"
            .into()),
    }
}

/// `avc data ...`.
#[derive(clap::Subcommand)]
pub enum DataCommand {
    /// Write the embedded synthetic data set, in the course's layout or as TFRecords.
    Synth {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Training clips (the knob n_train).
        #[arg(long, value_parser = super::at_least_one)]
        clips: Option<usize>,
        /// Test pairs (the knob n_test); 300 makes retrieval harder than the course's 30.
        #[arg(long)]
        test_clips: Option<usize>,
        /// course (DIR/<id>/vfeat.npy ...) or yt8m (TFRecord shards and a data file).
        #[arg(long, default_value = "course")]
        layout: Layout,
        /// Clips per TFRecord shard.
        #[arg(long, default_value_t = data::convert::CLIPS_PER_SHARD, value_parser = super::at_least_one)]
        shard_clips: usize,
        /// Replace an existing --out directory that is not avc's data of this layout
        /// (docs/safety.md).
        #[arg(long)]
        force: bool,
        /// Change a knob, e.g. `--synth noise=0.5`. Knobs: seed, n_train, n_test, steps,
        /// video_steps, audio_steps, video_dim, audio_dim, scenes, latent_dim, min_segment, max_segment, max_lag,
        /// shuffled_deck, signal, nuisance, distractor, ambient, noise, onset, global_offset.
        #[arg(long = "synth", value_name = "KEY=VALUE")]
        synth: Vec<String>,
    },
    /// Clips, lengths, crops and pads at a model's length, duplicate ids, unreadable records
    /// and feature statistics of a data source.
    Stats {
        /// synth[:SEED], a course directory, yt8m:PATTERN or a data file.
        source: String,
        #[command(flatten)]
        lists: ListArgs,
        /// The model's length in steps, for the crop and pad counts.
        #[arg(long, default_value_t = 120)]
        steps: usize,
        /// Clips sampled for the per-dimension mean and std.
        #[arg(long, default_value_t = 200, value_parser = super::at_least_one)]
        sample: usize,
        /// Also write everything (per-dimension vectors included) as JSON here.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Replace an existing --json file that avc data stats did not write (never an
        /// input: docs/safety.md).
        #[arg(long, requires = "json")]
        force: bool,
    },
    /// Write a data source in the other layout, at full length (course <-> TFRecords).
    Convert {
        /// synth[:SEED], a course directory, yt8m:PATTERN or a data file.
        source: String,
        #[command(flatten)]
        lists: ListArgs,
        /// course or yt8m.
        #[arg(long)]
        to: Layout,
        #[arg(long)]
        out: PathBuf,
        /// Clips per TFRecord shard.
        #[arg(long, default_value_t = data::convert::CLIPS_PER_SHARD, value_parser = super::at_least_one)]
        shard_clips: usize,
        /// Replace an existing --out directory that is not avc's data of this layout (never
        /// one the source reads: docs/safety.md).
        #[arg(long)]
        force: bool,
    },
}

/// A data error printed (its exit code: [`avc::report::Report`] for `DataError`).
fn data_error(e: data::DataError) -> u8 {
    report(&e)
}

/// A progress line on a terminal, rewritten in place.
fn progress(label: &'static str) -> impl FnMut(usize, usize) {
    let show = std::io::stderr().is_terminal();
    let mut last = std::time::Instant::now();
    move |done, total| {
        if show && (done == total || last.elapsed().as_millis() > 200) {
            eprint!("\r{label} {done}/{total} clips");
            if done == total {
                eprintln!();
            }
            last = std::time::Instant::now();
        }
    }
}

pub fn run(command: DataCommand) -> Result<(), u8> {
    match command {
        DataCommand::Synth { out, seed, clips, test_clips, layout, shard_clips, force, mut synth } => {
            synth.extend(clips.map(|n| format!("n_train={n}")));
            synth.extend(test_clips.map(|n| format!("n_test={n}")));
            data::synth::config(seed, &synth).map_err(usage)?;
            claim_data_dir(&out, layout, &[], force)?;
            let source = DataSource::Synth { seed, knobs: synth };
            let summary = data::convert::convert(&source, layout, &out, shard_clips, &mut progress("generated"))
                .map_err(data_error)?;
            println!("{summary}");
            Ok(())
        }
        DataCommand::Stats { source: text, lists, steps, sample, json, force } => {
            let source = source(Some(&text), &lists, &[], None).map_err(usage)?.unwrap_or(DataSource::synth(1));
            if let Some(path) = &json {
                let inputs = outputs::of_source(Some(&text), &source);
                outputs::claim("--json", path, Kind::File(outputs::DATA_STATS), &inputs, force)
                    .map_err(|e| report(&e))?;
            }
            let stats = data::stats::stats(&source, steps, sample).map_err(data_error)?;
            print!("{}", data::stats::render(&stats));
            if let Some(path) = json {
                let text = serde_json::to_string_pretty(&stats).map_err(usage)?;
                avc_lang::atomic::write(&path, text.as_bytes())
                    .map_err(|e| usage(format!("{}: {e}", path.display())))?;
                println!("wrote {}", path.display());
            }
            Ok(())
        }
        DataCommand::Convert { source: text, lists, to, out, shard_clips, force } => {
            let source = source(Some(&text), &lists, &[], None).map_err(usage)?.unwrap_or(DataSource::synth(1));
            claim_data_dir(&out, to, &outputs::of_source(Some(&text), &source), force)?;
            let summary = data::convert::convert(&source, to, &out, shard_clips, &mut progress("converted"))
                .map_err(data_error)?;
            println!("{summary}");
            Ok(())
        }
    }
}

fn data_kind(layout: Layout) -> outputs::DirKind {
    match layout {
        Layout::Course => outputs::COURSE_DATA,
        Layout::Yt8m => outputs::YT8M_DATA,
    }
}

fn claim_data_dir(out: &Path, layout: Layout, inputs: &[outputs::Input], force: bool) -> Result<(), u8> {
    outputs::claim("--out", out, Kind::Dir(data_kind(layout)), inputs, force).map(drop).map_err(|e| report(&e))
}

/// Where the data come from and where the model runs: the same for `train` and `sweep`.
#[derive(clap::Args)]
pub struct SourceArgs {
    /// A course-layout directory (<id>/vfeat.npy, <id>/afeat.npy, train.txt, test_video.txt,
    /// test_audio.txt), yt8m:PATH_OR_GLOB (YouTube-8M TFRecords), a data file (.yaml) or
    /// synth[:SEED] (docs/data.md). Without it: the embedded synthetic data set.
    #[arg(long, value_name = "SOURCE")]
    pub data: Option<String>,
    #[command(flatten)]
    pub lists: ListArgs,
    /// Seed of the embedded synthetic data set.
    #[arg(long, default_value_t = 1)]
    pub data_seed: u64,
    /// Change a knob of the embedded synthetic data, e.g. `--synth noise=0.5`
    /// (`avc data synth --help` lists them).
    #[arg(long = "synth", value_name = "KEY=VALUE")]
    pub synth: Vec<String>,
    /// auto (the GPU when there is one), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
}

impl SourceArgs {
    pub fn data_source(&self) -> Result<DataSource, u8> {
        let source = source(self.data.as_deref(), &self.lists, &self.synth, Some(self.data_seed));
        source.map(|s| s.unwrap_or(DataSource::synth(self.data_seed))).map_err(usage)
    }
}
