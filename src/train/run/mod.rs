//! A run on disk: its directory ([`rundir`]), checkpoints with the training state
//! ([`checkpoint`]), the manifest of hashes and versions, weights loaded tensor by tensor
//! ([`weights`], for `--init-from` and evaluation) and the list of runs (`avc runs`).

pub mod checkpoint;
pub(crate) mod manifest;
pub mod rundir;
pub mod runs;
pub mod weights;
