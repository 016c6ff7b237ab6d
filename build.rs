//! Gives every binary of this package (the CLI, tests, benches) an rpath to the libtorch it
//! was linked against, so `avc-torch` runs without LD_LIBRARY_PATH, and keeps libtorch_cuda
//! linked into the torch binaries even though no Rust symbol refers to it (otherwise
//! `--as-needed` drops it and CUDA is silently unavailable at run time).
//!
//! The light `avc` binary links no libtorch: an rpath costs it nothing, but forcing
//! libtorch_cuda in would load all of libtorch (500 MiB, half a second) for `avc check`, so
//! that flag goes only to `avc-torch`, the tests and the benches.
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    // Resolve the .libtorch link so the rpath names the real install, not the checkout.
    let lib = std::fs::canonicalize(&lib).map_or(lib, |p| p.display().to_string());
    // Every target, the library's unit-test binary included (no narrower directive reaches it).
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    if Path::new(&lib).join("libtorch_cuda.so").exists() {
        let cuda = "-Wl,--no-as-needed,-ltorch_cuda,--as-needed";
        println!("cargo:rustc-link-arg-bin=avc-torch={cuda}");
        println!("cargo:rustc-link-arg-tests={cuda}");
        println!("cargo:rustc-link-arg-benches={cuda}");
    }
}
