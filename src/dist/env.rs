//! Where this process stands in a data-parallel job, read from the launcher's environment:
//! torchrun's (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR`, `MASTER_PORT`) or Slurm's
//! (`SLURM_PROCID`, `SLURM_NTASKS`, `SLURM_LOCALID`, and the job's first node as the master
//! when `MASTER_ADDR` is unset). torchrun's variables win where both are set, as under
//! `srun torchrun ...`. Without either, the process trains alone, as before.

use std::collections::HashMap;

/// torch's default rendezvous port (`TCPStoreOptions::kDefaultPort`), used when
/// `MASTER_PORT` is unset under Slurm.
pub const DEFAULT_PORT: u16 = 29500;

/// A process's place in the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub rank: usize,
    pub world: usize,
    /// The rank among the processes of its node: picks its GPU.
    pub local_rank: usize,
    /// The host of rank 0, which holds the rendezvous store.
    pub master_addr: String,
    pub master_port: u16,
    /// Which launcher's variables these came from, for messages.
    pub from: Launcher,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launcher {
    /// torchrun, or `avc train --nproc`, which sets the same variables.
    Torchrun,
    Slurm,
}

/// A launch variable that cannot be used: which one, what was expected, what was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the launch variable {var} must be {expected}, found `{found}`")]
pub struct EnvError {
    pub var: String,
    pub expected: String,
    pub found: String,
}

impl crate::report::Report for EnvError {
    fn exit_code(&self) -> u8 {
        2
    }
    fn place(&self) -> Option<crate::report::Place> {
        Some(crate::report::Place::Setting(self.var.clone()))
    }
}

impl Launch {
    /// The launch of this process, from its environment; `None` when it runs alone (no
    /// launcher's variables, or a world of one).
    pub fn from_env() -> Result<Option<Launch>, EnvError> {
        Launch::from_vars(&std::env::vars().collect())
    }

    /// [`Launch::from_env`] over a given environment.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Option<Launch>, EnvError> {
        let get = |k: &str| vars.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let (rank_var, world_var, local_var, from) = if get("WORLD_SIZE").is_some() || get("RANK").is_some() {
            ("RANK", "WORLD_SIZE", "LOCAL_RANK", Launcher::Torchrun)
        } else if get("SLURM_NTASKS").is_some() && get("SLURM_PROCID").is_some() {
            ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", Launcher::Slurm)
        } else {
            return Ok(None);
        };
        let number = |var: &str, min: usize| -> Result<Option<usize>, EnvError> {
            let Some(text) = get(var) else { return Ok(None) };
            match text.parse::<usize>() {
                Ok(n) if n >= min => Ok(Some(n)),
                _ => Err(bad(var, if min == 0 { "a whole number" } else { "a whole number of at least 1" }, text)),
            }
        };
        let world = number(world_var, 1)?.ok_or_else(|| bad(world_var, "set beside RANK", ""))?;
        let rank = number(rank_var, 0)?.ok_or_else(|| bad(rank_var, "set beside WORLD_SIZE", ""))?;
        if rank >= world {
            return Err(bad(rank_var, &format!("below {world_var} ({world})"), &rank.to_string()));
        }
        if world == 1 {
            return Ok(None);
        }
        let local_rank = number(local_var, 0)?.unwrap_or(0);
        let master_addr = match (get("MASTER_ADDR"), from) {
            (Some(addr), _) => addr.to_string(),
            (None, Launcher::Slurm) => {
                let list = get("SLURM_JOB_NODELIST").or_else(|| get("SLURM_NODELIST"));
                let list =
                    list.ok_or_else(|| bad("MASTER_ADDR", "set (or SLURM_JOB_NODELIST, to take its first node)", ""))?;
                first_host(list)
                    .ok_or_else(|| bad("SLURM_JOB_NODELIST", "a Slurm host list such as `node[1-3,5]`", list))?
            }
            (None, Launcher::Torchrun) => return Err(bad("MASTER_ADDR", "set beside WORLD_SIZE", "")),
        };
        let master_port = match get("MASTER_PORT") {
            Some(text) => text
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad("MASTER_PORT", "a port in 1..65535", text))?,
            None if from == Launcher::Slurm => DEFAULT_PORT,
            None => return Err(bad("MASTER_PORT", "set beside WORLD_SIZE", "")),
        };
        Ok(Some(Launch { rank, world, local_rank, master_addr, master_port, from }))
    }
}

fn bad(var: &str, expected: &str, found: &str) -> EnvError {
    let found = if found.is_empty() { "nothing".to_string() } else { found.to_string() };
    EnvError { var: var.into(), expected: expected.into(), found }
}

/// The first host of a Slurm host list (`scontrol show hostnames` order): `a,b` gives `a`;
/// `node[07-09,12]` gives `node07` (the zero padding kept); `gpu[1-2]-ib,cpu1` gives `gpu1-ib`.
pub fn first_host(list: &str) -> Option<String> {
    let list = list.trim();
    let end = {
        // The first comma outside brackets ends the first entry.
        let mut depth = 0usize;
        list.char_indices()
            .find(|&(_, c)| {
                match c {
                    '[' => depth += 1,
                    ']' => depth = depth.saturating_sub(1),
                    _ => {}
                }
                c == ',' && depth == 0
            })
            .map_or(list.len(), |(i, _)| i)
    };
    let entry = &list[..end];
    let Some(open) = entry.find('[') else {
        return (!entry.is_empty()).then(|| entry.to_string());
    };
    let close = entry[open..].find(']')? + open;
    let first = entry[open + 1..close].split(',').next()?;
    let first = first.split('-').next()?;
    if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) || entry.is_empty() {
        return None;
    }
    Some(format!("{}{first}{}", &entry[..open], &entry[close + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn torchrun_and_slurm_variables() {
        let torchrun = vars(&[
            ("RANK", "1"),
            ("WORLD_SIZE", "2"),
            ("LOCAL_RANK", "1"),
            ("MASTER_ADDR", "127.0.0.1"),
            ("MASTER_PORT", "29600"),
        ]);
        let l = Launch::from_vars(&torchrun).unwrap().unwrap();
        assert_eq!((l.rank, l.world, l.local_rank, l.master_port), (1, 2, 1, 29600));
        let slurm = vars(&[
            ("SLURM_PROCID", "3"),
            ("SLURM_NTASKS", "4"),
            ("SLURM_LOCALID", "1"),
            ("SLURM_JOB_NODELIST", "gpu[07-09,12],cpu1"),
        ]);
        let l = Launch::from_vars(&slurm).unwrap().unwrap();
        assert_eq!((l.rank, l.world, l.master_addr.as_str(), l.master_port), (3, 4, "gpu07", DEFAULT_PORT));
        assert_eq!(l.from, Launcher::Slurm);
        assert_eq!(Launch::from_vars(&vars(&[])).unwrap(), None);
        assert_eq!(Launch::from_vars(&vars(&[("SLURM_PROCID", "0"), ("SLURM_NTASKS", "1")])).unwrap(), None);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = Launch::from_vars(&vars(&[("RANK", "2"), ("WORLD_SIZE", "2")])).unwrap_err();
        assert_eq!(e.to_string(), "the launch variable RANK must be below WORLD_SIZE (2), found `2`");
        let e = Launch::from_vars(&vars(&[("RANK", "0"), ("WORLD_SIZE", "two")])).unwrap_err();
        assert_eq!(e.var, "WORLD_SIZE");
        let e = Launch::from_vars(&vars(&[
            ("RANK", "0"),
            ("WORLD_SIZE", "2"),
            ("MASTER_ADDR", "h"),
            ("MASTER_PORT", "70000"),
        ]))
        .unwrap_err();
        assert_eq!(e.to_string(), "the launch variable MASTER_PORT must be a port in 1..65535, found `70000`");
        let e = Launch::from_vars(&vars(&[("RANK", "0"), ("WORLD_SIZE", "2"), ("MASTER_PORT", "1")])).unwrap_err();
        assert_eq!(e.var, "MASTER_ADDR");
    }

    #[test]
    fn slurm_host_lists() {
        assert_eq!(first_host("n1").as_deref(), Some("n1"));
        assert_eq!(first_host("a,b").as_deref(), Some("a"));
        assert_eq!(first_host("node[1-3,5]").as_deref(), Some("node1"));
        assert_eq!(first_host("gpu[1-2]-ib,cpu1").as_deref(), Some("gpu1-ib"));
        assert_eq!(first_host("node[x]"), None);
        assert_eq!(first_host(""), None);
    }
}
