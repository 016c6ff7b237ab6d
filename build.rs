//! Gives every binary of this package (the CLI, tests, benches) an rpath to the libtorch it
//! was linked against, so `avc-torch` runs without LD_LIBRARY_PATH, and keeps libtorch_cuda
//! linked into the torch binaries even though no Rust symbol refers to it (otherwise
//! `--as-needed` drops it and CUDA is silently unavailable at run time).
//!
//! The light `avc` binary links no libtorch: an rpath costs it nothing, but forcing
//! libtorch_cuda in would load all of libtorch (500 MiB, half a second) for `avc check`, so
//! that flag goes only to `avc-torch`, the tests and the benches.
//!
//! It also compiles the one C++ file of the package, src/shim/autocast.cpp (see there).
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
    autocast_shim(Path::new(&lib));
    if Path::new(&lib).join("libtorch_cuda.so").exists() {
        let cuda = "-Wl,--no-as-needed,-ltorch_cuda,--as-needed";
        println!("cargo:rustc-link-arg-bin=avc-torch={cuda}");
        println!("cargo:rustc-link-arg-tests={cuda}");
        println!("cargo:rustc-link-arg-benches={cuda}");
    }
}

/// Compiles src/shim/autocast.cpp (autocast on any device type, which tch does not expose)
/// against the headers of the libtorch in `lib`'s parent.
fn autocast_shim(lib: &Path) {
    println!("cargo:rerun-if-changed=src/shim/autocast.cpp");
    let root = lib.parent().unwrap_or(lib);
    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .file("src/shim/autocast.cpp")
        .include(root.join("include"))
        .include(root.join("include/torch/csrc/api/include"))
        .flag_if_supported("-Wno-unused-parameter")
        .warnings(false)
        .compile("avc_autocast");
}
