//! Gives every binary of this package (the CLI, tests, benches) an rpath to the libtorch it
//! was linked against, so `avc-torch` runs without LD_LIBRARY_PATH, and keeps libtorch_cuda
//! linked into the torch binaries even though no Rust symbol refers to it (otherwise
//! `--as-needed` drops it and CUDA is silently unavailable at run time).
//!
//! The light `avc` binary links no libtorch: an rpath costs it nothing, but forcing
//! libtorch_cuda in would load all of libtorch (500 MiB, half a second) for `avc check`, so
//! that flag goes only to `avc-torch`, the tests and the benches.
//!
//! It also compiles the package's C++ shims: src/shim/autocast.cpp, and src/shim/dist.cpp
//! (c10d's TCPStore and process groups for data-parallel training; see there), which needs
//! Gloo's headers (Debian's libgloo-dev, installed by scripts/tools.sh; libtorch carries
//! Gloo's code but not its headers). NCCL's process group is compiled in when libtorch has
//! its CUDA library and CUDA's and NCCL's headers are found (`CUDA_HOME`, /usr/local/cuda,
//! `NCCL_INCLUDE_DIR`, or the torch wheel's nvidia packages beside it).
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
    let cuda_lib = Path::new(&lib).join("libtorch_cuda.so").exists();
    dist_shim(Path::new(&lib), cuda_lib);
    if cuda_lib {
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

/// Compiles src/shim/dist.cpp against libtorch's headers and Gloo's (`USE_C10D_GLOO`, as
/// PyTorch's own build defines it); with NCCL's process group when CUDA's and NCCL's headers
/// are there and libtorch has its CUDA library (then libtorch_cuda is linked to everything).
fn dist_shim(lib: &Path, cuda_lib: bool) {
    println!("cargo:rerun-if-changed=src/shim/dist.cpp");
    for var in ["CUDA_HOME", "NCCL_INCLUDE_DIR", "GLOO_INCLUDE_DIR"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let root = lib.parent().unwrap_or(lib);
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .std("c++17")
        .file("src/shim/dist.cpp")
        .define("USE_C10D_GLOO", None)
        .include(root.join("include"))
        .include(root.join("include/torch/csrc/api/include"))
        .flag_if_supported("-Wno-unused-parameter")
        .warnings(false);
    // The system's include directory is searched already (naming it with -I would reorder
    // libstdc++'s `#include_next`); another one comes from GLOO_INCLUDE_DIR.
    let given = std::env::var("GLOO_INCLUDE_DIR").ok().map(std::path::PathBuf::from);
    if let Some(dir) = &given {
        build.include(dir);
    }
    let gloo = given.unwrap_or_else(|| "/usr/include".into());
    if !gloo.join("gloo/config.h").is_file() {
        // Say what is missing in one line, rather than leave it to a C++ error deep in c10d.
        println!(
            "cargo:warning=Gloo's headers are missing ({} not found): install libgloo-dev \
             (`make setup` does), or set GLOO_INCLUDE_DIR",
            gloo.join("gloo/config.h").display()
        );
    }
    let headers = cuda_lib.then(|| nccl_headers(root)).flatten();
    if let Some((cuda_include, nccl_include)) = headers {
        build.define("AVC_WITH_NCCL", None).define("USE_C10D_NCCL", None).define("USE_CUDA", None);
        build.include(cuda_include).include(nccl_include);
        println!("cargo:rustc-link-lib=dylib=torch_cuda");
    }
    build.compile("avc_dist");
}

/// CUDA's and NCCL's include directories: `CUDA_HOME` (default /usr/local/cuda) and
/// `NCCL_INCLUDE_DIR` when they hold the headers, else the ones installed beside the torch
/// wheel (nvidia/cu13/include, which scripts/libtorch.sh completes with the nvidia-cuda-crt
/// and nvidia-cuda-cccl packages c10d's CUDA headers need, and nvidia/nccl/include), so the
/// NCCL process group compiles wherever that wheel is, GPU or not.
fn nccl_headers(torch: &Path) -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    let site = torch.parent().unwrap_or(torch);
    let cuda_home = std::env::var("CUDA_HOME").unwrap_or_else(|_| "/usr/local/cuda".into());
    let cuda_dirs = [Path::new(&cuda_home).join("include"), site.join("nvidia/cu13/include")];
    let complete = |d: &std::path::PathBuf| {
        ["cuda_runtime_api.h", "crt/host_config.h", "nv/target"].iter().all(|h| d.join(h).is_file())
    };
    let cuda = cuda_dirs.into_iter().find(complete)?;
    let given = std::env::var("NCCL_INCLUDE_DIR").ok().map(std::path::PathBuf::from);
    let nccl_dirs = given.into_iter().chain([cuda.clone(), site.join("nvidia/nccl/include"), "/usr/include".into()]);
    let nccl = nccl_dirs.into_iter().find(|d| d.join("nccl.h").is_file())?;
    Some((cuda, nccl))
}
