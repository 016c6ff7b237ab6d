//! Running one command as several processes, one rank of a data-parallel job each
//! (docs/distributed.md): `--nproc N`, or the torchrun or Slurm variables it was started with.

use avc::report::{report, usage};

/// Training or evaluating as several processes (docs/distributed.md).
#[derive(clap::Args)]
pub struct DistArgs {
    /// Start N processes on this machine, one data-parallel rank each (torchrun's variables
    /// set for them); under torchrun or srun, leave it out.
    #[arg(long, value_name = "N", value_parser = super::at_least_one)]
    pub nproc: Option<usize>,
    /// How long any rank waits for the others (a collective, the start, rank 0 writing its checkpoints)
    /// before the job stops: seconds, or with a unit (`90s`, `10m`, `1h`).
    #[arg(long, value_name = "TIME", default_value = "10m", value_parser = parse_timeout)]
    pub dist_timeout: std::time::Duration,
}

/// `--dist-timeout`'s value: a positive number of seconds, minutes (`m`) or hours (`h`).
fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let (number, unit) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (&t[..i], &t[i..]),
        None => (t, "s"),
    };
    let scale = match unit {
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("expected seconds or a time such as `90s`, `10m`, `1h`, found `{text}`")),
    };
    match number.trim().parse::<f64>() {
        Ok(x) if x > 0.0 && (x * scale).is_finite() && x * scale < 1e9 => {
            Ok(std::time::Duration::from_secs_f64(x * scale))
        }
        _ => Err(format!("expected a positive time such as `600`, `90s`, `10m`, found `{text}`")),
    }
}

/// Starts `--nproc N` ranks of this same command (without `--nproc`) and waits for them.
/// A signal to it (Ctrl-C, SIGTERM) is passed on to every rank, which stop as one process
/// does; it exits with the first failing rank's code (130 when they stopped as asked).
pub fn launch_local(nproc: usize) -> Result<(), u8> {
    if avc::dist::Launch::from_env().is_ok_and(|l| l.is_some()) {
        return Err(usage(
            "--nproc starts its own processes: leave it out under torchrun or srun (WORLD_SIZE or SLURM_NTASKS is set)",
        ));
    }
    let program = std::env::current_exe().map_err(|e| usage(format!("--nproc: cannot find this program: {e}")))?;
    let mut args: Vec<std::ffi::OsString> = Vec::new();
    let mut given = std::env::args_os().skip(1);
    while let Some(arg) = given.next() {
        if arg == "--nproc" {
            given.next();
        } else if !arg.to_string_lossy().starts_with("--nproc=") {
            args.push(arg);
        }
    }
    avc::interrupt::install_counting();
    match avc::dist::launch::run(nproc, &program, &args) {
        Err(e) => Err(report(&e)),
        Ok((0, _)) => Ok(()),
        Ok((code, line)) => {
            // Interrupted here and stopped as asked (130): the ranks have said so.
            let asked = code == 130 && avc::interrupt::requested();
            if let Some(line) = line.filter(|_| !asked) {
                eprintln!("error: the job stopped: {line}");
            }
            Err(code)
        }
    }
}

/// Joins the data-parallel job this process was started in (torchrun's or Slurm's
/// variables), if any: Gloo on the CPU, NCCL on the GPU of its `LOCAL_RANK`. Returns the
/// device to train on.
pub fn join_job(device: tch::Device, timeout: std::time::Duration) -> Result<tch::Device, u8> {
    let launch = match avc::dist::Launch::from_env() {
        Ok(Some(launch)) => launch,
        Ok(None) => return Ok(device),
        Err(e) => return Err(report(&e)),
    };
    avc::report::set_prefix(format!("rank {}: ", launch.rank));
    let (backend, device) = match device {
        tch::Device::Cuda(_) => {
            (avc::dist::Backend::Nccl { device: launch.local_rank }, tch::Device::Cuda(launch.local_rank))
        }
        other => (avc::dist::Backend::Gloo, other),
    };
    let group =
        avc::dist::Group::join(&launch.master_addr, launch.master_port, launch.rank, launch.world, backend, timeout)
            .map_err(|e| report(&e))?;
    avc::dist::init(group).map_err(|e| report(&e))?;
    Ok(device)
}

/// This process's `LOCAL_RANK` when it is one rank of a job.
pub fn local_rank() -> Option<usize> {
    avc::dist::Launch::from_env().ok().flatten().map(|l| l.local_rank)
}

/// Names this process's rank on every error line from the start (`rank N: `), before it
/// joins its job: a compile error, a bad setting or bad data on one rank says whose it is.
pub fn name_rank() {
    if let Ok(Some(launch)) = avc::dist::Launch::from_env() {
        avc::report::set_prefix(format!("rank {}: ", launch.rank));
    }
}
