//! The one integration-test binary (every tch-linked binary costs seconds to link).

mod architectures;
mod diagnostics;
mod docs;
mod training;
