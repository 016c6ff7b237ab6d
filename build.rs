//! Gives every binary of this package (the CLI, tests, benches) an rpath to the libtorch it
//! was linked against, so `avc` runs without LD_LIBRARY_PATH, and keeps libtorch_cuda linked
//! even though no Rust symbol refers to it (otherwise `--as-needed` drops it and CUDA is
//! silently unavailable at run time).
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    // Resolve the .libtorch link so the rpath names the real install, not the checkout.
    let lib = std::fs::canonicalize(&lib).map_or(lib, |p| p.display().to_string());
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    if Path::new(&lib).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
