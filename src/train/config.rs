//! Harness settings: see `avc_lang::settings`, where they are resolved and checked for `avc
//! check` and `avc train` alike.

pub use avc_lang::settings::*;
