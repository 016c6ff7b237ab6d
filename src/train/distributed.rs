//! The training loop's side of a data-parallel job (the engine is [`crate::dist`]): the
//! start-up agreement, rank 0's weights shared, and waiting for rank 0 while it evaluates.

use super::learned::TrainingVars;
use super::{TrainConfig, TrainError, TrainOptions};
use crate::data::TrainingData;
use crate::dist::agree::{self, AgreeError, Item};
use crate::dist::{DistError, Group};
use crate::lower::Model;
use avc_lang::compile::Compiled;
use tch::Tensor;

/// Refuses to train unless every rank has the same architecture file, settings, data and
/// avc (see [`crate::dist::agree`]).
pub(super) fn agree(
    group: &Group,
    compiled: &Compiled,
    data: &TrainingData,
    cfg: &TrainConfig,
    opts: &TrainOptions,
) -> Result<(), TrainError> {
    let settings = serde_json::to_vec(&(cfg, opts.max_batches)).unwrap_or_default();
    let identity = &data.provenance;
    let data_id = serde_json::to_vec(&(&identity.index_sha256, &identity.lists_sha256)).unwrap_or_default();
    let items = [
        Item::of("architecture file", compiled.graph.source.text().as_bytes()),
        Item::of("settings", &settings),
        Item::of("data", &data_id),
        Item::of("avc version", env!("CARGO_PKG_VERSION").as_bytes()),
    ];
    agree::agree(group, "start", &items).map_err(|e| match e {
        AgreeError::Dist(e) => TrainError::Dist(e),
        AgreeError::Mismatch(m) => TrainError::Agree(m),
    })
}

/// Gives every rank rank 0's weights, buffers (batch-norm statistics) and the training's
/// own tensors (a learned temperature, an average of the weights), in name order.
pub(super) fn share_weights(group: &Group, model: &Model, training: &TrainingVars) -> Result<(), DistError> {
    let mut named: Vec<(String, Tensor)> = model.vs.variables().into_iter().collect();
    named.extend(training.checkpoint_tensors());
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let tensors: Vec<Tensor> = named.into_iter().map(|(_, t)| t).collect();
    crate::dist::grads::broadcast_from_leader(group, &tensors)
}

pub(super) use crate::dist::wait_for;
