//! Data-parallel training (docs/distributed.md) on the CPU: two processes on localhost
//! through c10d's Gloo process group, tiny models, a few batches.

use avc::run::checkpoint::{Checkpoint, OPTIMIZER, WEIGHTS};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SYNTH: [&str; 5] = ["n_train=200", "n_test=8", "steps=24", "video_dim=16", "audio_dim=8"];

/// `avc train FILE` on the synthetic set, one epoch of at most five batches of 32 pairs.
fn train(dir: &Path, name: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_avc"));
    cmd.arg("train").arg(dir.join("tiny.yaml")).args(["--device", "cpu", "-q", "--name", name]);
    cmd.arg("--runs").arg(dir).args(["--max-batches", "5", "--dist-timeout", "60"]);
    for knob in SYNTH {
        cmd.args(["--synth", knob]);
    }
    cmd.args(extra);
    cmd
}

/// No dropout, no batch norm: two ranks and two accumulated micro-batches must agree.
fn setup(epochs: usize) -> crate::Scratch {
    let dir = crate::scratch_dir("dist");
    let arch = crate::small_model(16, &format!("{{epochs: {epochs}, batch_size: 32, schedule: none}}"));
    std::fs::write(dir.join("tiny.yaml"), arch).unwrap();
    dir
}

fn run_ok(mut cmd: Command) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

/// The largest difference between two runs' `last` weights and optimiser state.
fn max_difference(a: &Path, b: &Path) -> f64 {
    let mut worst = 0.0f64;
    for file in [WEIGHTS, OPTIMIZER] {
        let read = |run: &Path| Checkpoint::read_tensors(&Checkpoint::locate(run, "last").unwrap().join(file)).unwrap();
        let (x, y) = (read(a), read(b));
        let names = |m: &std::collections::HashMap<String, tch::Tensor>| {
            let mut n: Vec<String> = m.keys().cloned().collect();
            n.sort();
            n
        };
        assert_eq!(names(&x), names(&y));
        for (name, t) in &x {
            let d = (t.to_kind(tch::Kind::Double) - y[name].to_kind(tch::Kind::Double)).abs().max().double_value(&[]);
            worst = worst.max(d);
        }
    }
    worst
}

#[test]
fn two_ranks_match_one_process_accumulating_their_shares() {
    let dir = setup(1);
    run_ok(train(&dir, "ranks", &["--nproc", "2", "--profile"]));
    run_ok(train(&dir, "accumulated", &["--set", "train.accumulate=2"]));
    // The profile times the all-reduce and counts its bytes: every weight's gradient, in
    // f32, and the loss and interruption flag as two f64s.
    let profile: avc::train::profile::ProfileSummary =
        serde_json::from_str(&std::fs::read_to_string(dir.join("ranks").join("profile.json")).unwrap()).unwrap();
    let weights =
        Checkpoint::read_tensors(&Checkpoint::locate(&dir.join("ranks"), "last").unwrap().join(WEIGHTS)).unwrap();
    let params: i64 = weights.values().map(|t| t.numel() as i64).sum();
    assert_eq!(profile.all_reduce_bytes, 4 * params as u64 + 16);
    assert!(profile.seconds.all_reduce > 0.0 && profile.seconds.batches == 5, "{profile:?}");
    let state = Checkpoint::read_state(&Checkpoint::locate(&dir.join("ranks"), "last").unwrap()).unwrap();
    assert_eq!(state.batches_done, 5, "{state:?}");
    let same = max_difference(&dir.join("ranks"), &dir.join("accumulated"));
    eprintln!("two ranks vs one process accumulating 2: max difference {same:.3e}");
    assert!(same < 1e-5, "two ranks and accumulate: 2 differ by {same}");
    // Not blind: the same comparison sees another seed, and the batch left whole.
    run_ok(train(&dir, "other-seed", &["--set", "train.accumulate=2", "--set", "train.seed=2"]));
    let seeded = max_difference(&dir.join("ranks"), &dir.join("other-seed"));
    run_ok(train(&dir, "whole", &[]));
    let whole = max_difference(&dir.join("ranks"), &dir.join("whole"));
    eprintln!("against another seed: {seeded:.3e}; against the batch left whole: {whole:.3e}");
    assert!(seeded > 1e-3 && whole > 1e-4, "the comparison cannot tell runs apart: {seeded}, {whole}");
    // Only rank 0 wrote: one run directory per run, nothing else in the scratch directory.
    let mut names: Vec<String> =
        std::fs::read_dir(&*dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["accumulated", "other-seed", "ranks", "tiny.yaml", "whole"]);
}

/// The end-of-epoch evaluation dealt out to two ranks (30-clip groups, alternately) gives
/// the numbers one process gives: here 95 test clips (three groups, two on rank 0) and the
/// validation rows, over two epochs.
#[test]
fn split_end_of_epoch_evaluation_gives_one_processs_numbers() {
    let dir = setup(2);
    let wide = ["--synth", "n_test=95", "--synth", "n_train=400"];
    run_ok(train(&dir, "ranks", &[&["--nproc", "2"][..], &wide].concat()));
    run_ok(train(&dir, "accumulated", &[&["--set", "train.accumulate=2"][..], &wide].concat()));
    let metrics = |run: &str| -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(dir.join(run).join("metrics.jsonl")).unwrap();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let (ranks, one) = (metrics("ranks"), metrics("accumulated"));
    assert_eq!(ranks.len(), 2);
    for (a, b) in ranks.iter().zip(&one) {
        assert_eq!(a["test"]["queries"], 95, "{a}");
        for key in ["val", "test"] {
            assert_eq!(a[key], b[key], "{key} of epoch {}: two ranks {a}, one process {b}", a["epoch"]);
        }
        for key in ["val_loss", "test_loss"] {
            let (x, y) = (a[key].as_f64().unwrap(), b[key].as_f64().unwrap());
            assert!((x - y).abs() <= 1e-6 * y.abs().max(1.0), "{key}: two ranks {x}, one process {y}");
        }
    }
}

/// `avc train --resume DIR/RUN` for two epochs in all, with `extra` (the processes).
fn resume(dir: &Path, run: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_avc"));
    cmd.arg("train").arg("--resume").arg(dir.join(run)).args(["--device", "cpu", "-q", "--set", "train.epochs=2"]);
    cmd.args(["--max-batches", "5", "--dist-timeout", "60"]).args(extra);
    cmd
}

/// A run resumes on another number of processes and gives the numbers of an uninterrupted
/// run of its new size. Two ranks take the same shares as one process accumulating two
/// micro-batches, so a first epoch on two ranks resumed on one process accumulating two is
/// that size's uninterrupted run, and so is the other way round.
#[test]
fn a_run_resumes_on_another_number_of_processes() {
    let dir = setup(1);
    run_ok(train(&dir, "whole", &["--nproc", "2", "--set", "train.epochs=2"]));
    run_ok(train(&dir, "from-two", &["--nproc", "2"]));
    run_ok(resume(&dir, "from-two", &["--set", "train.accumulate=2"]));
    run_ok(train(&dir, "from-one", &["--set", "train.accumulate=2"]));
    run_ok(resume(&dir, "from-one", &["--nproc", "2", "--set", "train.accumulate=1"]));
    run_ok(train(&dir, "two-on-two", &["--nproc", "2"]));
    run_ok(resume(&dir, "two-on-two", &["--nproc", "2"]));
    let epochs = |run: &str| std::fs::read_to_string(dir.join(run).join("metrics.jsonl")).unwrap().lines().count();
    for run in ["from-two", "from-one", "two-on-two"] {
        assert_eq!(epochs(run), 2, "{run}");
        let d = max_difference(&dir.join("whole"), &dir.join(run));
        eprintln!("{run} resumed against an uninterrupted run: max difference {d:.3e}");
        assert!(d < 1e-5, "{run} differs from the uninterrupted run by {d}");
    }
    // Not blind: resumed on one process without accumulating, the second epoch differs.
    run_ok(train(&dir, "halved", &["--nproc", "2"]));
    run_ok(resume(&dir, "halved", &[]));
    let d = max_difference(&dir.join("whole"), &dir.join("halved"));
    assert!(d > 1e-4, "resuming with other shares went unnoticed: {d}");
}

/// One rank of a job launched by hand, as torchrun would, on `port`.
fn rank(dir: &Path, rank: usize, port: u16, extra: &[&str]) -> Child {
    let mut cmd = train(dir, "job", extra);
    cmd.env("RANK", rank.to_string()).env("WORLD_SIZE", "2").env("LOCAL_RANK", rank.to_string());
    cmd.env("MASTER_ADDR", "127.0.0.1").env("MASTER_PORT", port.to_string()).env("OMP_NUM_THREADS", "1");
    cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
}

/// Two ranks of a long job (1,000 epochs) in `dir`, returned once rank 0 has written a
/// checkpoint: mid-run, training goes on.
fn two_ranks_past_a_checkpoint(dir: &Path) -> (Child, Child) {
    let port = avc::dist::launch::free_port().unwrap();
    let (zero, one) = (rank(dir, 0, port, &[]), rank(dir, 1, port, &[]));
    let begun = Instant::now();
    while Checkpoint::locate(&dir.join("job"), "last").is_err() {
        assert!(begun.elapsed() < Duration::from_secs(120), "no checkpoint within 2 minutes");
        std::thread::sleep(Duration::from_millis(20));
    }
    (zero, one)
}

fn stderr_of(child: Child) -> (std::process::ExitStatus, String) {
    let out = child.wait_with_output().unwrap();
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn ranks_started_with_other_settings_are_refused() {
    let dir = setup(1);
    let port = avc::dist::launch::free_port().unwrap();
    let zero = rank(&dir, 0, port, &[]);
    let one = rank(&dir, 1, port, &["--set", "train.lr=0.01"]);
    let (s0, e0) = stderr_of(zero);
    let (s1, e1) = stderr_of(one);
    assert!(!s0.success() && !s1.success(), "{e0}\n{e1}");
    for (r, text) in [(0, &e0), (1, &e1)] {
        assert!(
            text.contains(&format!("rank {r}: error: the ranks were not started alike: rank 1's settings differ")),
            "rank {r} said:\n{text}"
        );
    }
    assert!(!dir.join("job").join("last").exists(), "a refused job trained");
}

/// SIGKILL to rank 1 mid-run: rank 0 stops within the test's bound naming it, and the run
/// resumes from its last checkpoint on two ranks.
#[test]
fn a_killed_rank_stops_the_job_naming_it() {
    let dir = setup(1000);
    let (zero, mut one) = two_ranks_past_a_checkpoint(&dir);
    one.kill().unwrap();
    let killed = Instant::now();
    let (status, text) = stderr_of(zero);
    let took = killed.elapsed();
    let _ = one.wait();
    eprintln!("rank 0 stopped {:.2}s after rank 1 was killed:\n{text}", took.as_secs_f64());
    assert!(!status.success(), "{text}");
    assert!(took < Duration::from_secs(30), "rank 0 took {took:?} to stop:\n{text}");
    assert!(text.contains("rank 0: error:") && text.contains("rank 1 stopped answering"), "{text}");
    resume_on_two_ranks(&dir);
}

/// `avc eval` on two ranks writes the evaluation directory of one process, byte for byte,
/// with the video rows really divided (one row a block under a 1 MiB budget: 18 + 19).
#[test]
fn eval_on_two_ranks_writes_what_one_process_writes() {
    let dir = setup(1);
    run_ok(train(&dir, "run", &[]));
    let eval = |out: &str, extra: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_avc"));
        cmd.arg("eval").arg(dir.join("run")).args(["--device", "cpu", "--max-memory", "1M", "--out"]);
        cmd.arg(dir.join(out));
        for knob in SYNTH.iter().map(|k| if k.starts_with("n_test=") { "n_test=37" } else { k }) {
            cmd.args(["--synth", knob]);
        }
        cmd.args(extra);
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{}\n{text}", String::from_utf8_lossy(&out.stdout));
        text
    };
    eval("one", &[]);
    let said = eval("two", &["--nproc", "2", "--dist-timeout", "60"]);
    assert!(said.contains("the video rows divided between 2 ranks: 18 + 19"), "{said}");
    let files = |d: &str| {
        let mut f: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.join(d))
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
            .collect();
        f.sort();
        f
    };
    let (one, two) = (files("one"), files("two"));
    assert!(one.iter().any(|(name, _)| name == "metrics.json") && one.iter().any(|(name, _)| name == "scores.npy"));
    assert_eq!(one.iter().map(|f| &f.0).collect::<Vec<_>>(), two.iter().map(|f| &f.0).collect::<Vec<_>>());
    for ((name, a), (_, b)) in one.iter().zip(&two) {
        assert!(a == b, "{name} differs between one process and two ranks");
    }
}

/// A rank that fails before training (here a setting only it was given) names itself on
/// its error lines, and the rank waiting for it at the start stops at once, naming it,
/// rather than waiting out `--dist-timeout` (60 s here).
#[test]
fn a_rank_failing_before_training_is_named_and_not_waited_for() {
    let dir = setup(1);
    let port = avc::dist::launch::free_port().unwrap();
    let begun = Instant::now();
    let zero = rank(&dir, 0, port, &[]);
    let one = rank(&dir, 1, port, &["--set", "train.no_such_setting=1"]);
    let (s1, e1) = stderr_of(one);
    let (s0, e0) = stderr_of(zero);
    let took = begun.elapsed();
    assert!(!s0.success() && !s1.success(), "{e0}\n{e1}");
    assert!(e1.lines().all(|l| l.starts_with("rank 1: ")) && e1.contains("no_such_setting"), "{e1}");
    assert!(e0.contains("rank 0: error:") && e0.contains("rank 1 failed"), "{e0}");
    assert!(took < Duration::from_secs(30), "the job took {took:?} to stop:\n{e0}");
}

/// SIGTERM to one rank (what Slurm sends at a job's end) stops every rank: the interrupt
/// rides the gradient all-reduce, so all stop at the same batch, rank 0 saves `last` and
/// both exit with 130 (stopped, docs/distributed.md); `--resume` on two ranks finishes it.
#[test]
fn a_sigterm_to_one_rank_stops_all_with_last_saved_and_the_run_resumes() {
    let dir = setup(1000);
    let (zero, mut one) = two_ranks_past_a_checkpoint(&dir);
    // SAFETY: a plain signal to a child this test started and has not yet waited for.
    assert_eq!(unsafe { libc::kill(one.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let signalled = Instant::now();
    let (status, text) = stderr_of(zero);
    let took = signalled.elapsed();
    let one_status = one.wait().unwrap();
    eprintln!("rank 0 stopped {:.2}s after rank 1's SIGTERM:\n{text}", took.as_secs_f64());
    assert_eq!(status.code(), Some(130), "rank 0:\n{text}");
    assert_eq!(one_status.code(), Some(130), "rank 1");
    assert!(took < Duration::from_secs(30), "rank 0 took {took:?} to stop:\n{text}");
    resume_on_two_ranks(&dir);
}

/// Resumes the stopped job in `dir` on two ranks for the rest of its last checkpoint's
/// epoch (or one more, if that epoch was complete) and checks that it ends there.
fn resume_on_two_ranks(dir: &Path) {
    let state = Checkpoint::read_state(&Checkpoint::locate(&dir.join("job"), "last").unwrap()).unwrap();
    let epoch = if state.epoch_complete { state.epoch + 1 } else { state.epoch };
    let mut resume = Command::new(env!("CARGO_BIN_EXE_avc"));
    resume.args(["train", "--resume"]).arg(dir.join("job"));
    resume.args(["--nproc", "2", "--dist-timeout", "60", "-q", "--set", &format!("train.epochs={epoch}")]);
    run_ok(resume);
    let lines = std::fs::read_to_string(dir.join("job").join("metrics.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(lines.lines().last().unwrap()).unwrap();
    assert_eq!(last["epoch"].as_i64(), Some(epoch), "{lines}");
}

/// `--nproc`'s launcher passes a signal on to its ranks (which run in a process group of
/// their own, so a Ctrl-C at the terminal reaches them once, through it): SIGTERM to the
/// launcher alone stops the job as Ctrl-C stops one process, `last` saved, exit 130.
#[test]
fn a_sigterm_to_the_launcher_stops_every_rank() {
    let dir = setup(1000);
    let mut launcher = train(&dir, "job", &["--nproc", "2"]);
    let launcher = launcher.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let begun = Instant::now();
    while Checkpoint::locate(&dir.join("job"), "last").is_err() {
        assert!(begun.elapsed() < Duration::from_secs(120), "no checkpoint within 2 minutes");
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = std::fs::read_to_string(dir.join("job").join("metrics.jsonl")).unwrap().lines().count();
    // SAFETY: a plain signal to a child this test started and has not yet waited for.
    assert_eq!(unsafe { libc::kill(launcher.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let signalled = Instant::now();
    let (status, text) = stderr_of(launcher);
    eprintln!("the job stopped {:.2}s after the launcher's SIGTERM:\n{text}", signalled.elapsed().as_secs_f64());
    assert_eq!(status.code(), Some(130), "{text}");
    assert_eq!(text.matches("interrupted:").count(), 1, "rank 0 alone says it: {text}");
    assert!(text.contains("rank 0: interrupted") && !text.contains("error"), "{text}");
    let state = Checkpoint::read_state(&Checkpoint::locate(&dir.join("job"), "last").unwrap()).unwrap();
    let after = std::fs::read_to_string(dir.join("job").join("metrics.jsonl")).unwrap().lines().count();
    assert!(state.epoch < 1000 && after >= before, "{state:?}");
    // No rank is left running: the scratch directory's job is not written to any more.
    std::thread::sleep(Duration::from_millis(500));
    let again = std::fs::read_to_string(dir.join("job").join("metrics.jsonl")).unwrap().lines().count();
    assert_eq!(after, again);
}

/// Copies the shards of `from` into `to` with a data file that streams them, takes its
/// validation clips from the test shard (so that only training reads the training files)
/// and caches the index in `cache`.
fn shard_copy(from: &Path, to: &Path, cache: &Path, val_ids: &[String]) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "tfrecord") {
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(to.join("val.txt"), val_ids.join("\n") + "\n").unwrap();
    let data = format!(
        "source: yt8m\npath: train-*.tfrecord\ntest_shards: test-*.tfrecord\nlists:\n  val: val.txt\n\
         memory: stream\nindex_cache: {}\n",
        cache.display()
    );
    std::fs::write(to.join("data.yaml"), data).unwrap();
}

/// Indexes `shard` into `cache`, then changes a payload byte of every record, keeping the
/// file's size and modification time: the cached index stays valid, so the data open as
/// before, but reading any record of the file fails its CRC check.
fn spoil_after_indexing(shard: &Path, cache: &Path) {
    use avc::data::{index::ShardIndex, tfrecord};
    let index = ShardIndex::load(shard, Some(cache)).unwrap();
    let mut bytes = std::fs::read(shard).unwrap();
    for r in &index.records {
        bytes[(r.offset + tfrecord::HEADER + r.length / 2) as usize] ^= 0x5a;
    }
    let modified = std::fs::metadata(shard).unwrap().modified().unwrap();
    std::fs::write(shard, &bytes).unwrap();
    std::fs::File::options().write(true).open(shard).unwrap().set_modified(modified).unwrap();
    assert_eq!(ShardIndex::load(shard, Some(cache)).unwrap(), index, "the cached index of {shard:?} was rebuilt");
}

/// With at least as many training shards as ranks, each rank trains only on the records of
/// its own shards (docs/distributed.md). Each rank is given its own copy of the data in
/// which every record of the other rank's shards is spoiled after indexing (the copies index
/// alike, so the ranks agree on the data): a rank that read a single record of the other's
/// shards would fail. Two epochs, every batch; validation and test clips come from the test
/// shard, which both copies keep intact.
#[test]
fn two_ranks_read_only_their_own_training_shards() {
    let dir = setup(2);
    let mut synth = Command::new(env!("CARGO_BIN_EXE_avc"));
    synth.args(["data", "synth", "--layout", "yt8m", "--clips", "96", "--test-clips", "12", "--shard-clips", "24"]);
    synth.arg("--out").arg(dir.join("shards"));
    for knob in &SYNTH[2..] {
        synth.args(["--synth", knob]);
    }
    run_ok(synth);
    let cache = dir.join("cache");
    let test_index = avc::data::index::ShardIndex::load(&dir.join("shards/test-00000.tfrecord"), None).unwrap();
    let val_ids: Vec<String> = test_index.records.iter().take(6).map(|r| r.id.clone()).collect();
    // Four shards of 24 clips: rank 0 trains on shards 0 and 2, rank 1 on 1 and 3.
    let theirs = [["train-00001", "train-00003"], ["train-00000", "train-00002"]];
    for (r, others) in theirs.iter().enumerate() {
        let copy = dir.join(format!("data-{r}"));
        shard_copy(&dir.join("shards"), &copy, &cache, &val_ids);
        for name in others {
            spoil_after_indexing(&copy.join(format!("{name}.tfrecord")), &cache);
        }
    }
    let job = |r: usize, port: u16| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_avc"));
        cmd.arg("train").arg(dir.join("tiny.yaml")).args(["--device", "cpu", "--name", "job", "--runs"]);
        cmd.arg(&*dir).arg("--data").arg(dir.join(format!("data-{r}/data.yaml"))).args(["--dist-timeout", "60"]);
        cmd.args(["--set", "train.batch_size=16"]);
        cmd.env("RANK", r.to_string()).env("WORLD_SIZE", "2").env("LOCAL_RANK", r.to_string());
        cmd.env("MASTER_ADDR", "127.0.0.1").env("MASTER_PORT", port.to_string()).env("OMP_NUM_THREADS", "1");
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    };
    let port = avc::dist::launch::free_port().unwrap();
    let (zero, one) = (job(0, port), job(1, port));
    let (o0, o1) = (zero.wait_with_output().unwrap(), one.wait_with_output().unwrap());
    let said = |o: &std::process::Output| {
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    };
    assert!(o0.status.success() && o1.status.success(), "rank 0:\n{}\nrank 1:\n{}", said(&o0), said(&o1));
    assert!(
        said(&o0).contains(
            "data: 4 training shards split by rank (2 per rank); each epoch 6 steps of 16 clips, 0 of the 96 \
             training clips left out"
        ),
        "{}",
        said(&o0)
    );
    let state = Checkpoint::read_state(&Checkpoint::locate(&dir.join("job"), "last").unwrap()).unwrap();
    assert_eq!((state.epoch, state.batches_done), (2, 6), "{state:?}");
    // Not blind: one process trains on every shard, and fails on the first spoiled record.
    let mut alone = Command::new(env!("CARGO_BIN_EXE_avc"));
    alone.arg("train").arg(dir.join("tiny.yaml")).args(["--device", "cpu", "-q", "--name", "alone", "--runs"]);
    alone.arg(&*dir).arg("--data").arg(dir.join("data-0/data.yaml")).args(["--set", "train.batch_size=16"]);
    let out = alone.output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "one process read rank 1's spoiled shards without failing:\n{text}");
    assert!(text.contains("the shard changed since it was indexed"), "{text}");
    assert!(text.contains("train-00001.tfrecord") || text.contains("train-00003.tfrecord"), "{text}");
}
