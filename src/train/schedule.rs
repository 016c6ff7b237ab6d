//! Learning-rate schedules: pure arithmetic on settings, so they live with the settings in
//! the language crate (`avc_lang::settings::schedule`), where `avc check` reads them too.

pub use avc_lang::settings::schedule::*;
