//! A run on disk: its directory ([`rundir`]), checkpoints with the training state
//! ([`checkpoint`]), the manifest of hashes and versions, weights loaded tensor by tensor
//! ([`weights`], for `--init-from` and evaluation), the list of runs (`avc runs`), and a
//! finished run opened again ([`open`]).

pub mod checkpoint;
pub(crate) mod manifest;
pub mod open;
pub mod rundir;
pub mod runs;
pub mod weights;
