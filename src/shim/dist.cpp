// Data-parallel training's engine: PyTorch's own c10d (the TCPStore rendezvous and the Gloo
// process group; NCCL's when the build found CUDA's and NCCL's headers), behind a C ABI that
// src/dist/group.rs wraps. Nothing here is a collective of our own: every exchange is a
// c10d call, as torch.distributed makes it.
//
// Tensors cross as tch's `C_tensor`, which is an `at::Tensor*` (torch-sys's torch_api.h:
// `typedef torch::Tensor *tensor`); they are borrowed, never freed here. No C++ exception
// crosses the boundary: each entry point catches it and returns its message as a string
// that the caller frees with avc_dist_free.
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef AVC_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;
  std::chrono::milliseconds timeout;
  int rank;
  int world;
};

char* copy(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out != nullptr) {
    std::memcpy(out, s.c_str(), s.size() + 1);
  }
  return out;
}

// Runs `body`, turning any exception into an error string: 0 on success, -1 on failure.
template <typename F>
int guarded(char** err, F body) {
  try {
    body();
    return 0;
  } catch (const c10::Error& e) {
    *err = copy(e.what_without_backtrace());
  } catch (const std::exception& e) {
    *err = copy(e.what());
  } catch (...) {
    *err = copy("an unknown C++ exception");
  }
  return -1;
}

std::vector<at::Tensor> borrow(at::Tensor* const* tensors, size_t n) {
  std::vector<at::Tensor> out;
  out.reserve(n);
  for (size_t i = 0; i < n; i++) {
    out.push_back(*tensors[i]);
  }
  return out;
}

void finish(Group* g, const c10::intrusive_ptr<c10d::Work>& work) {
  work->wait(g->timeout);
}

}  // namespace

extern "C" {

// Whether this build has the NCCL process group (1) or only Gloo's (0).
int avc_dist_has_nccl() {
#ifdef AVC_WITH_NCCL
  return 1;
#else
  return 0;
#endif
}

void avc_dist_free(void* p) {
  std::free(p);
}

// Joins the group: rank 0 hosts the TCPStore at `port` (0: any free port), every rank
// connects to `host`:`port`, then all build the process group (backend 0: Gloo, 1: NCCL on
// CUDA device `device`). Returns the group, or null with *err set.
void* avc_dist_open(
    const char* host,
    int port,
    int rank,
    int world,
    long long timeout_ms,
    int backend,
    int device,
    char** err) {
  Group* out = nullptr;
  guarded(err, [&] {
    auto timeout = std::chrono::milliseconds(timeout_ms);
    c10d::TCPStoreOptions opts;
    opts.port = static_cast<std::uint16_t>(port);
    opts.isServer = rank == 0;
    opts.numWorkers = world;
    opts.waitWorkers = true;
    opts.timeout = timeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(std::string(host), opts);
    c10::intrusive_ptr<c10d::Backend> pg;
    if (backend == 1) {
#ifdef AVC_WITH_NCCL
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      (void)device;
      pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, options);
#else
      (void)device;
      throw std::runtime_error(
          "this avc was built without NCCL (no CUDA or NCCL headers at build time); use the gloo backend");
#endif
    } else {
      auto options = c10d::ProcessGroupGloo::Options::create(timeout);
      const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
      if (ifname != nullptr && *ifname != '\0') {
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      } else {
        options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, options);
    }
    out = new Group{store, pg, timeout, rank, world};
  });
  return out;
}

void avc_dist_close(void* group) {
  try {
    delete static_cast<Group*>(group);
  } catch (...) {
  }
}

// The port the store listens on (rank 0 asked for port 0: the one it got).
int avc_dist_port(void* group, char** err) {
  int port = -1;
  guarded(err, [&] {
    auto* g = static_cast<Group*>(group);
    port = static_cast<c10d::TCPStore*>(g->store.get())->getPort();
  });
  return port;
}

// Sums (op 0) or averages (op 1) each tensor over the ranks, in place. Gloo has no AVG: the
// sum is divided by the group's size, as torch.distributed does for it.
int avc_dist_allreduce(void* group, at::Tensor* const* tensors, size_t n, int op, char** err) {
  return guarded(err, [&] {
    auto* g = static_cast<Group*>(group);
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    std::vector<std::vector<at::Tensor>> lists;
    lists.reserve(n);
    for (size_t i = 0; i < n; i++) {
      lists.push_back({*tensors[i]});
      c10d::AllreduceOptions opts;
      opts.reduceOp = c10d::ReduceOp::SUM;
      opts.timeout = g->timeout;
      works.push_back(g->backend->allreduce(lists.back(), opts));
    }
    for (auto& w : works) {
      finish(g, w);
    }
    if (op == 1) {
      for (size_t i = 0; i < n; i++) {
        tensors[i]->div_(g->world);
      }
    }
  });
}

// Copies rank `root`'s tensors into every rank's, in place.
int avc_dist_broadcast(void* group, at::Tensor* const* tensors, size_t n, int root, char** err) {
  return guarded(err, [&] {
    auto* g = static_cast<Group*>(group);
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    std::vector<std::vector<at::Tensor>> lists;
    lists.reserve(n);
    for (size_t i = 0; i < n; i++) {
      lists.push_back({*tensors[i]});
      c10d::BroadcastOptions opts;
      opts.rootRank = root;
      opts.timeout = g->timeout;
      works.push_back(g->backend->broadcast(lists.back(), opts));
    }
    for (auto& w : works) {
      finish(g, w);
    }
  });
}

// Every rank's `input` into `outputs[0..world]` (each of its shape), on every rank.
int avc_dist_allgather(void* group, at::Tensor* input, at::Tensor* const* outputs, char** err) {
  return guarded(err, [&] {
    auto* g = static_cast<Group*>(group);
    std::vector<std::vector<at::Tensor>> out{borrow(outputs, g->world)};
    std::vector<at::Tensor> in{*input};
    c10d::AllgatherOptions opts;
    opts.timeout = g->timeout;
    finish(g, g->backend->allgather(out, in, opts));
  });
}

// Every rank's `input` into `outputs[0..world]` on rank `root` (others pass no outputs).
int avc_dist_gather(void* group, at::Tensor* input, at::Tensor* const* outputs, int root, char** err) {
  return guarded(err, [&] {
    auto* g = static_cast<Group*>(group);
    std::vector<std::vector<at::Tensor>> out;
    if (g->rank == root) {
      out.push_back(borrow(outputs, g->world));
    }
    std::vector<at::Tensor> in{*input};
    c10d::GatherOptions opts;
    opts.rootRank = root;
    opts.timeout = g->timeout;
    finish(g, g->backend->gather(out, in, opts));
  });
}

int avc_dist_barrier(void* group, char** err) {
  return guarded(err, [&] {
    auto* g = static_cast<Group*>(group);
    c10d::BarrierOptions opts;
    opts.timeout = g->timeout;
    finish(g, g->backend->barrier(opts));
  });
}

int avc_dist_store_set(void* group, const char* key, const uint8_t* value, size_t len, char** err) {
  return guarded(err, [&] {
    auto* g = static_cast<Group*>(group);
    g->store->set(std::string(key), std::vector<uint8_t>(value, value + len));
  });
}

// Waits (up to `timeout_ms`) for `key` and returns its value in a buffer the caller frees
// with avc_dist_free.
int avc_dist_store_get(
    void* group,
    const char* key,
    long long timeout_ms,
    uint8_t** value,
    size_t* len,
    char** err) {
  return guarded(err, [&] {
    auto* g = static_cast<Group*>(group);
    g->store->wait({std::string(key)}, std::chrono::milliseconds(timeout_ms));
    auto bytes = g->store->get(std::string(key));
    *len = bytes.size();
    *value = static_cast<uint8_t*>(std::malloc(bytes.size() + 1));
    if (*value == nullptr) {
      throw std::bad_alloc();
    }
    std::memcpy(*value, bytes.data(), bytes.size());
  });
}

// Whether `key` is set (1) or not (0) now, without waiting; -1 with *err when the store
// cannot be reached.
int avc_dist_store_check(void* group, const char* key, char** err) {
  int found = -1;
  guarded(err, [&] {
    auto* g = static_cast<Group*>(group);
    found = g->store->check({std::string(key)}) ? 1 : 0;
  });
  return found;
}
}
