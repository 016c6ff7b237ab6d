// Autocast for any device type. tch exposes only the CUDA switch (at::autocast::set_enabled,
// which PyTorch now spells set_autocast_enabled(kCUDA, ...)); bf16 on the CPU needs the
// device-typed calls, which torch.autocast("cpu", dtype=torch.bfloat16) makes in Python.
// A C ABI with plain ints: nothing but ints and bools crosses, and no exception escapes.
#include <ATen/autocast_mode.h>

extern "C" {

// Device types: 0 the CPU, 1 CUDA. Kinds: 0 bfloat16, 1 float16, -1 off (an fp32 region
// inside an autocast one, as torch.autocast(enabled=False)).
static c10::DeviceType device_type(int device) {
  return device == 1 ? c10::DeviceType::CUDA : c10::DeviceType::CPU;
}

// Enters an autocast region: returns the previous state (bit 0 enabled, bits 8.. the
// previous dtype as a c10::ScalarType number), or -1 when libtorch refused.
int avc_autocast_enter(int device, int kind) {
  try {
    auto d = device_type(device);
    int previous = (at::autocast::is_autocast_enabled(d) ? 1 : 0) |
                   (static_cast<int>(at::autocast::get_autocast_dtype(d)) << 8);
    if (kind >= 0) {
      at::autocast::set_autocast_dtype(d, kind == 1 ? at::kHalf : at::kBFloat16);
    }
    at::autocast::set_autocast_enabled(d, kind >= 0);
    at::autocast::increment_nesting();
    return previous;
  } catch (...) {
    return -1;
  }
}

// Leaves the region entered by avc_autocast_enter with its returned state: 0, or -1.
int avc_autocast_exit(int device, int previous) {
  try {
    auto d = device_type(device);
    if (at::autocast::decrement_nesting() == 0) {
      at::autocast::clear_cache();
    }
    at::autocast::set_autocast_enabled(d, (previous & 1) != 0);
    at::autocast::set_autocast_dtype(d, static_cast<at::ScalarType>(previous >> 8));
    return 0;
  } catch (...) {
    return -1;
  }
}

// Whether autocast is on for the device type (1), off (0), or unknown (-1).
int avc_autocast_enabled(int device) {
  try {
    return at::autocast::is_autocast_enabled(device_type(device)) ? 1 : 0;
  } catch (...) {
    return -1;
  }
}
}
