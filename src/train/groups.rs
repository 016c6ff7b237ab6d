//! Parameter groups: how fast each weight learns and whether weight decay pulls it to zero.
//!
//! Two rules, as the trainers people use apply them: 1-D weights (biases, norm weights,
//! learned scalars) get no weight decay with `adamw` unless `train.decay_1d: true` says so
//! (BERT's and timm's practice: decaying a norm's scale or a bias only fights the
//! normalisation), and `train.lr_mult.<prefix>` scales the learning rate of the weights
//! under a dotted-name prefix (a slow pretrained tower when fine-tuning with `--init-from`).
//! Training-only tensors (a learned temperature) never decay.

use super::TrainError;
use super::optim::Param;
use crate::run::weights::selected;
use avc_lang::diag::did_you_mean;
use avc_lang::settings::TrainConfig;
use tch::Tensor;
use tch::nn::VarStore;

/// The optimiser's parameters: the model's trainable variables with their groups' settings,
/// then `training` (training-only tensors, never decayed). Refuses an `lr_mult` prefix that
/// selects no weight, naming the nearest node.
pub fn params(vs: &VarStore, training: Vec<(String, Tensor)>, cfg: &TrainConfig) -> Result<Vec<Param>, TrainError> {
    let vars = vs.variables();
    for (prefix, _) in &cfg.lr_mults {
        if !vars.keys().any(|n| selected(n, std::slice::from_ref(prefix))) {
            let mut nodes: Vec<&str> =
                vars.keys().map(|n| n.rsplit_once('.').map_or(n.as_str(), |(node, _)| node)).collect();
            nodes.sort();
            nodes.dedup();
            let hint = match did_you_mean(prefix, nodes.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("nodes with weights: {}", nodes.join(", ")),
            };
            return Err(TrainError::Groups(format!("train.lr_mult.{prefix} selects no weight of the model; {hint}")));
        }
    }
    let decay_1d = cfg.decays_1d();
    let mut out: Vec<Param> = vars
        .into_iter()
        .filter(|(_, v)| v.requires_grad())
        .map(|(name, var)| {
            let decay = decay_1d || var.dim() > 1;
            Param { lr_mult: cfg.lr_mult(&name), decay, name, var }
        })
        .collect();
    // By name: the VarStore's map has no order, and the groups are described in this one.
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.extend(training.into_iter().map(|(name, var)| Param { name, var, lr_mult: 1.0, decay: false }));
    Ok(out)
}

/// One line per group that differs from the default, for `config.json`'s readers and the
/// run's first lines: which weights are not decayed, which learn at another rate.
pub fn describe(params: &[Param]) -> Vec<String> {
    let mut lines = Vec::new();
    let undecayed: Vec<&str> = params.iter().filter(|p| !p.decay).map(|p| p.name.as_str()).collect();
    if !undecayed.is_empty() {
        lines.push(format!("no weight decay on {} ({})", tensors(undecayed.len()), abbreviated(&undecayed)));
    }
    let mut mults: Vec<f64> = params.iter().map(|p| p.lr_mult).filter(|m| *m != 1.0).collect();
    mults.sort_by(f64::total_cmp);
    mults.dedup();
    for m in mults {
        let names: Vec<&str> = params.iter().filter(|p| p.lr_mult == m).map(|p| p.name.as_str()).collect();
        lines.push(format!("lr x {m} on {} ({})", tensors(names.len()), abbreviated(&names)));
    }
    lines
}

fn tensors(n: usize) -> String {
    if n == 1 { "1 tensor".into() } else { format!("{n} tensors") }
}

fn abbreviated(names: &[&str]) -> String {
    const SHOWN: usize = 4;
    let mut text = names.iter().take(SHOWN).copied().collect::<Vec<_>>().join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(", ... {} more", names.len() - SHOWN));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind, nn};

    fn model() -> VarStore {
        let vs = nn::VarStore::new(Device::Cpu);
        let root = vs.root();
        let _ = root.sub("vproj").var("weight", &[4, 3], nn::Init::Const(0.0));
        let _ = root.sub("vproj").var("bias", &[4], nn::Init::Const(0.0));
        let _ = root.sub("vrnn").sub("rnn").var("weight_ih_l0", &[8, 4], nn::Init::Const(0.0));
        let _ = root.sub("head").var("weight", &[1, 4], nn::Init::Const(0.0));
        vs
    }

    fn config(settings: &[&str]) -> TrainConfig {
        let overrides: Vec<String> = settings.iter().map(|s| format!("train.{s}")).collect();
        TrainConfig::resolve(&[], &overrides).unwrap()
    }

    fn group<'a>(params: &'a [Param], name: &str) -> &'a Param {
        params.iter().find(|p| p.name == name).unwrap()
    }

    #[test]
    fn adamw_spares_one_dimensional_weights_and_others_decay_everything() {
        let vs = model();
        let scale = Tensor::zeros([], (Kind::Float, Device::Cpu));
        let p = params(&vs, vec![("@loss.log_scale".into(), scale)], &config(&["optimizer=adamw"])).unwrap();
        assert!(!group(&p, "vproj.bias").decay && group(&p, "vproj.weight").decay);
        assert!(!group(&p, "@loss.log_scale").decay);
        let p = params(&vs, Vec::new(), &config(&["optimizer=adamw", "decay_1d=true"])).unwrap();
        assert!(group(&p, "vproj.bias").decay);
        let p = params(&vs, Vec::new(), &config(&["optimizer=adam"])).unwrap();
        assert!(group(&p, "vproj.bias").decay);
    }

    #[test]
    fn the_longest_prefix_sets_the_learning_rate() {
        let vs = model();
        let p =
            params(&vs, Vec::new(), &config(&["lr_mult.vrnn=0.1", "lr_mult.vrnn.rnn=0.5", "lr_mult.vproj=0"])).unwrap();
        assert_eq!(group(&p, "vrnn.rnn.weight_ih_l0").lr_mult, 0.5);
        assert_eq!(group(&p, "vproj.weight").lr_mult, 0.0);
        assert_eq!(group(&p, "head.weight").lr_mult, 1.0);
        assert_eq!(
            describe(&p),
            ["lr x 0 on 2 tensors (vproj.bias, vproj.weight)", "lr x 0.5 on 1 tensor (vrnn.rnn.weight_ih_l0)"]
        );
    }

    #[test]
    fn a_prefix_that_selects_nothing_is_refused_with_the_nearest_node() {
        let vs = model();
        // `vpro` is not a dotted prefix of `vproj.weight`: prefixes end at a dot.
        let err = params(&vs, Vec::new(), &config(&["lr_mult.vpro=0.1"])).err().unwrap().to_string();
        assert!(err.contains("train.lr_mult.vpro selects no weight") && err.contains("did you mean `vproj`?"), "{err}");
    }
}
