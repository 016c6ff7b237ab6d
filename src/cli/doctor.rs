//! `avc doctor`: what this machine gives avc (libtorch, CUDA, threads, memory, the
//! data-parallel process groups this build has).

pub fn doctor() -> Result<(), u8> {
    let env = avc::device::environment();
    println!("avc {}", env.avc_version);
    println!("libtorch {}", env.libtorch_version);
    println!("cuda available: {} ({} GPU{})", env.cuda_available, env.gpus, if env.gpus == 1 { "" } else { "s" });
    println!("cudnn available: {}", env.cudnn_available);
    println!("threads: {}", env.threads);
    println!("default device (--device auto): {}", env.default_device);
    let nccl = if avc::dist::has_nccl() { "Gloo (CPU) and NCCL (GPU)" } else { "Gloo (CPU) only: built without NCCL" };
    println!("data-parallel process groups: {nccl}");
    for device in std::iter::once(tch::Device::Cpu).chain((0..env.gpus.max(0) as usize).map(tch::Device::Cuda)) {
        if let Some(budget) = avc::device::memory_budget(device) {
            let size = avc_lang::check::memory::bytes(budget.bytes);
            println!("memory models are checked against: {size} ({})", budget.source);
        }
    }
    if !env.cuda_available {
        println!("note: no usable GPU; avc runs on the CPU (CUDA 13 needs a recent NVIDIA driver)");
    }
    Ok(())
}
