//! A sweep's grid: `--set train.KEY=A,B,C` lists (one axis per key), the cartesian product
//! of the axes, times the seeds. Each grid point and seed is one planned run, named after
//! the values that vary so its directory says what it is (`lr=0.01,batch_size=32,seed=2`).

use serde::{Deserialize, Serialize};

/// One swept setting and its values, as written on the command line (`1e-2` stays `1e-2`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    /// The setting as written in `--set`, e.g. `train.lr`.
    pub key: String,
    pub values: Vec<String>,
}

impl Axis {
    /// The key without its `train.` prefix (`lr`), as used in run names and table headers.
    pub fn short_key(&self) -> &str {
        short(&self.key)
    }
}

fn short(key: &str) -> &str {
    key.strip_prefix("train.").unwrap_or(key)
}

/// What a sweep trains: settings shared by all runs, the swept axes and the seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    /// `--set` overrides with a single value, applied to every run.
    pub fixed: Vec<String>,
    /// Settings with several values, in command-line order (the first varies slowest).
    pub axes: Vec<Axis>,
    pub seeds: Vec<u64>,
}

/// One run of a sweep: a grid point and a seed.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRun {
    /// The run directory's name inside the sweep directory.
    pub name: String,
    /// The swept values of this run, one per axis: (short key, value).
    pub point: Vec<(String, String)>,
    pub seed: u64,
    /// Every `--set` override of the run: the fixed ones, the point's, then the seed.
    pub overrides: Vec<String>,
}

/// A grid that cannot be built from the command line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct GridError(pub String);

impl Grid {
    /// Reads `--set KEY=V1,V2,...` (a list when it has a comma) and `--seeds` (`N` for
    /// seeds 1..=N, or a list `1,5,9`). The values themselves are checked later, when each
    /// run's settings are resolved.
    pub fn parse(sets: &[String], seeds: &str) -> Result<Grid, GridError> {
        let mut grid = Grid { fixed: Vec::new(), axes: Vec::new(), seeds: parse_seeds(seeds)? };
        let mut seen: Vec<String> = Vec::new();
        for set in sets {
            let (key, raw) = set
                .split_once('=')
                .ok_or_else(|| GridError(format!("--set {set}: expected KEY=VALUE or KEY=V1,V2,...")))?;
            let key = key.trim().to_string();
            if short(&key) == "seed" {
                return Err(GridError(format!(
                    "--set {set}: a sweep sets the seed itself; use --seeds N (seeds 1..=N) or --seeds 1,5,9"
                )));
            }
            if seen.contains(&key) {
                return Err(GridError(format!("--set {key} is given twice; list its values once: {key}=A,B,C")));
            }
            seen.push(key.clone());
            let values: Vec<String> = raw.split(',').map(|v| v.trim().to_string()).collect();
            if values.iter().any(String::is_empty) {
                return Err(GridError(format!("--set {set}: an empty value in the list")));
            }
            if let Some(dup) = values.iter().enumerate().find(|(i, v)| values[..*i].contains(v)) {
                return Err(GridError(format!("--set {set}: `{}` is listed twice", dup.1)));
            }
            match values.as_slice() {
                [one] => grid.fixed.push(format!("{key}={one}")),
                _ => grid.axes.push(Axis { key, values }),
            }
        }
        Ok(grid)
    }

    /// Every grid point: the cartesian product of the axes, the first axis varying slowest.
    /// A grid without axes has one (empty) point.
    pub fn points(&self) -> Vec<Vec<(String, String)>> {
        let mut points = vec![Vec::new()];
        for axis in &self.axes {
            points = points
                .into_iter()
                .flat_map(|p| {
                    axis.values.iter().map(move |v| {
                        let mut q = p.clone();
                        q.push((axis.short_key().to_string(), v.clone()));
                        q
                    })
                })
                .collect();
        }
        points
    }

    /// Every run, point by point, each point's seeds together.
    pub fn runs(&self) -> Vec<PlannedRun> {
        let mut runs = Vec::new();
        for point in self.points() {
            for &seed in &self.seeds {
                let mut overrides = self.fixed.clone();
                overrides.extend(self.axes.iter().zip(&point).map(|(axis, (_, v))| format!("{}={v}", axis.key)));
                overrides.push(format!("train.seed={seed}"));
                runs.push(PlannedRun { name: run_name(&point, seed), point: point.clone(), seed, overrides });
            }
        }
        runs
    }
}

/// `lr=0.01,batch_size=32,seed=2`; characters that cannot be in a file name become `_`.
pub fn run_name(point: &[(String, String)], seed: u64) -> String {
    let mut parts: Vec<String> = point.iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.push(format!("seed={seed}"));
    parts.join(",").chars().map(|c| if c == '/' || c == '\\' || c.is_control() { '_' } else { c }).collect()
}

/// `N` means seeds 1..=N; a list (`1,5,9`) means those seeds.
fn parse_seeds(text: &str) -> Result<Vec<u64>, GridError> {
    let bad = || GridError(format!("--seeds {text}: expected a count N (seeds 1..=N) or a list like 1,5,9"));
    let text = text.trim();
    if !text.contains(',') {
        let n: u64 = text.parse().map_err(|_| bad())?;
        if n == 0 {
            return Err(GridError("--seeds 0: a sweep needs at least one seed".into()));
        }
        return Ok((1..=n).collect());
    }
    let seeds: Vec<u64> = text.split(',').map(|s| s.trim().parse().map_err(|_| bad())).collect::<Result<_, _>>()?;
    if let Some(dup) = seeds.iter().enumerate().find(|(i, s)| seeds[..*i].contains(s)) {
        return Err(GridError(format!("--seeds {text}: seed {} is listed twice", dup.1)));
    }
    Ok(seeds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sets(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn lists_become_axes_and_single_values_stay_fixed() {
        let g =
            Grid::parse(&sets(&["train.lr=1e-1, 5e-2,1e-2", "train.epochs=3", "train.batch_size=32,64"]), "2").unwrap();
        assert_eq!(g.fixed, ["train.epochs=3"]);
        assert_eq!(g.axes.len(), 2);
        assert_eq!(g.axes[0].values, ["1e-1", "5e-2", "1e-2"]);
        assert_eq!(g.seeds, [1, 2]);
        let runs = g.runs();
        assert_eq!(runs.len(), 3 * 2 * 2);
        assert_eq!(runs[0].name, "lr=1e-1,batch_size=32,seed=1");
        assert_eq!(runs[1].name, "lr=1e-1,batch_size=32,seed=2");
        assert_eq!(runs[2].name, "lr=1e-1,batch_size=64,seed=1");
        assert_eq!(runs[11].name, "lr=1e-2,batch_size=64,seed=2");
        assert_eq!(runs[3].overrides, ["train.epochs=3", "train.lr=1e-1", "train.batch_size=64", "train.seed=2"]);
        let names: std::collections::HashSet<_> = runs.iter().map(|r| r.name.clone()).collect();
        assert_eq!(names.len(), runs.len());
    }

    #[test]
    fn seeds_count_or_list() {
        assert_eq!(parse_seeds("3").unwrap(), [1, 2, 3]);
        assert_eq!(parse_seeds("1,5,9").unwrap(), [1, 5, 9]);
        assert!(parse_seeds("0").is_err());
        assert!(parse_seeds("1,x").is_err());
        assert!(parse_seeds("2,2").unwrap_err().0.contains("listed twice"));
    }

    #[test]
    fn no_axes_is_one_point_per_seed() {
        let g = Grid::parse(&[], "1,4").unwrap();
        let names: Vec<String> = g.runs().into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["seed=1", "seed=4"]);
    }

    #[test]
    fn bad_grids_are_errors() {
        assert!(Grid::parse(&sets(&["train.seed=1,2"]), "1").unwrap_err().0.contains("--seeds"));
        assert!(Grid::parse(&sets(&["train.lr=1,2", "train.lr=3"]), "1").unwrap_err().0.contains("twice"));
        assert!(Grid::parse(&sets(&["train.lr=1,,2"]), "1").unwrap_err().0.contains("empty"));
        assert!(Grid::parse(&sets(&["train.lr"]), "1").is_err());
        assert!(Grid::parse(&sets(&["train.lr=1,1"]), "1").unwrap_err().0.contains("listed twice"));
    }

    #[test]
    fn names_are_file_names() {
        assert_eq!(run_name(&[("schedule.kind".into(), "a/b".into())], 1), "schedule.kind=a_b,seed=1");
    }
}
