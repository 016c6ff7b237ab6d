//! The process group: c10d's TCPStore and ProcessGroupGloo (or NCCL's) through the C++ shim
//! src/shim/dist.cpp, with safe calls. Every wait is bounded by the group's timeout
//! (`--dist-timeout`); a failure comes back as a [`DistError`] naming the operation, never as
//! a C++ exception or a hang.

use std::ffi::{CStr, CString, c_char, c_int, c_longlong, c_void};
use std::time::Duration;
use tch::Tensor;
use torch_sys::C_tensor;

unsafe extern "C" {
    fn avc_dist_has_nccl() -> c_int;
    fn avc_dist_free(p: *mut c_void);
    fn avc_dist_open(
        host: *const c_char,
        port: c_int,
        rank: c_int,
        world: c_int,
        timeout_ms: c_longlong,
        backend: c_int,
        device: c_int,
        err: *mut *mut c_char,
    ) -> *mut c_void;
    fn avc_dist_allreduce(g: *mut c_void, t: *const *mut C_tensor, n: usize, op: c_int, err: *mut *mut c_char)
    -> c_int;
    fn avc_dist_broadcast(
        g: *mut c_void,
        t: *const *mut C_tensor,
        n: usize,
        root: c_int,
        err: *mut *mut c_char,
    ) -> c_int;
    fn avc_dist_allgather(
        g: *mut c_void,
        input: *mut C_tensor,
        out: *const *mut C_tensor,
        err: *mut *mut c_char,
    ) -> c_int;
    fn avc_dist_gather(
        g: *mut c_void,
        input: *mut C_tensor,
        out: *const *mut C_tensor,
        root: c_int,
        err: *mut *mut c_char,
    ) -> c_int;
    fn avc_dist_barrier(g: *mut c_void, err: *mut *mut c_char) -> c_int;
    fn avc_dist_store_set(g: *mut c_void, key: *const c_char, v: *const u8, n: usize, err: *mut *mut c_char) -> c_int;
    fn avc_dist_store_get(
        g: *mut c_void,
        key: *const c_char,
        timeout_ms: c_longlong,
        v: *mut *mut u8,
        n: *mut usize,
        err: *mut *mut c_char,
    ) -> c_int;
    fn avc_dist_store_check(g: *mut c_void, key: *const c_char, err: *mut *mut c_char) -> c_int;
}

/// Which c10d process group carries the collectives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// CPUs (and any tensor on them).
    Gloo,
    /// One CUDA device per rank; only in builds that found NCCL's headers.
    Nccl { device: usize },
}

impl Backend {
    /// The engine's name, as PyTorch spells the backend: `Gloo`, `NCCL`.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Gloo => "Gloo",
            Backend::Nccl { .. } => "NCCL",
        }
    }
}

/// Whether this build can make NCCL process groups.
pub fn has_nccl() -> bool {
    // SAFETY: a constant query.
    unsafe { avc_dist_has_nccl() == 1 }
}

/// A collective or store operation that failed: which, and c10d's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} failed: {message}")]
pub struct DistError {
    pub what: String,
    pub message: String,
}

impl crate::report::Report for DistError {}

/// The job's process group and its store. One per process, made once (c10d allows more,
/// avc needs one); the handle is freed never: rank 0's store must outlive every other rank's
/// last call, so the group ends with the process.
pub struct Group {
    ptr: *mut c_void,
    pub rank: usize,
    pub world: usize,
    pub timeout: Duration,
    pub backend: Backend,
}

// SAFETY: c10d's process groups and stores take calls from any thread (torch.distributed
// calls them from Python threads alike); the handle is never freed while the process runs.
unsafe impl Send for Group {}
unsafe impl Sync for Group {}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Group {{ rank: {}, world: {} }}", self.rank, self.world)
    }
}

/// Runs a shim call with an error slot; its non-zero status becomes a [`DistError`].
fn call(what: &str, f: impl FnOnce(*mut *mut c_char) -> c_int) -> Result<c_int, DistError> {
    let mut err: *mut c_char = std::ptr::null_mut();
    let status = f(&mut err);
    if err.is_null() {
        return if status < 0 { Err(failed(what, "no message".into())) } else { Ok(status) };
    }
    // SAFETY: the shim set `err` to a NUL-terminated malloc'd string, freed here once.
    let message = unsafe {
        let text = CStr::from_ptr(err).to_string_lossy().trim().to_string();
        avc_dist_free(err.cast());
        text
    };
    Err(failed(what, message))
}

fn failed(what: &str, message: String) -> DistError {
    DistError { what: what.to_string(), message }
}

fn c_string(what: &str, s: &str) -> Result<CString, DistError> {
    CString::new(s).map_err(|_| failed(what, format!("`{s}` holds a NUL byte")))
}

fn millis(d: Duration) -> c_longlong {
    c_longlong::try_from(d.as_millis()).unwrap_or(c_longlong::MAX)
}

fn pointers(tensors: &[&Tensor]) -> Vec<*mut C_tensor> {
    tensors.iter().map(|t| t.as_ptr().cast_mut()).collect()
}

impl Group {
    /// Joins the job: rank 0 hosts the store at `host:port` and waits (up to `timeout`) for
    /// the others to connect; then all make the process group.
    pub fn join(
        host: &str,
        port: u16,
        rank: usize,
        world: usize,
        backend: Backend,
        timeout: Duration,
    ) -> Result<Group, DistError> {
        let what = format!("joining the process group at {host}:{port} as rank {rank} of {world}");
        let chost = c_string(&what, host)?;
        let (kind, device) = match backend {
            Backend::Gloo => (0, 0),
            Backend::Nccl { device } => (1, device as c_int),
        };
        let mut ptr = std::ptr::null_mut();
        call(&what, |err| {
            // SAFETY: plain values and a NUL-terminated host; the shim catches every exception.
            ptr = unsafe {
                avc_dist_open(
                    chost.as_ptr(),
                    c_int::from(port),
                    rank as c_int,
                    world as c_int,
                    millis(timeout),
                    kind,
                    device,
                    err,
                )
            };
            if ptr.is_null() { -1 } else { 0 }
        })?;
        Ok(Group { ptr, rank, world, timeout, backend })
    }

    /// Sums each tensor over the ranks, in place (`average`: then divides by the world).
    pub fn all_reduce(&self, tensors: &[&Tensor], average: bool) -> Result<(), DistError> {
        let ptrs = pointers(tensors);
        // SAFETY: the tensors outlive the call, which waits for the collective to end.
        call("all-reduce", |err| unsafe {
            avc_dist_allreduce(self.ptr, ptrs.as_ptr(), ptrs.len(), c_int::from(average), err)
        })
        .map(drop)
        .map_err(|e| self.blame(e))
    }

    /// Overwrites every rank's tensors with rank `root`'s.
    pub fn broadcast(&self, tensors: &[&Tensor], root: usize) -> Result<(), DistError> {
        let ptrs = pointers(tensors);
        // SAFETY: as all_reduce.
        call("broadcast", |err| unsafe { avc_dist_broadcast(self.ptr, ptrs.as_ptr(), ptrs.len(), root as c_int, err) })
            .map(drop)
            .map_err(|e| self.blame(e))
    }

    /// Every rank's `input` (all of one shape) on every rank, in rank order.
    pub fn all_gather(&self, input: &Tensor) -> Result<Vec<Tensor>, DistError> {
        let outputs: Vec<Tensor> = (0..self.world).map(|_| input.empty_like()).collect();
        let ptrs = pointers(&outputs.iter().collect::<Vec<_>>());
        // SAFETY: as all_reduce; `outputs` are `world` tensors of the input's shape.
        call("all-gather", |err| unsafe {
            avc_dist_allgather(self.ptr, input.as_ptr().cast_mut(), ptrs.as_ptr(), err)
        })
        .map_err(|e| self.blame(e))?;
        Ok(outputs)
    }

    /// Every rank's `input` on rank `root`, in rank order (`None` on the other ranks).
    pub fn gather(&self, input: &Tensor, root: usize) -> Result<Option<Vec<Tensor>>, DistError> {
        let outputs: Vec<Tensor> =
            if self.rank == root { (0..self.world).map(|_| input.empty_like()).collect() } else { Vec::new() };
        let ptrs = pointers(&outputs.iter().collect::<Vec<_>>());
        // SAFETY: as all_gather; only the root's outputs are read by the shim.
        call("gather", |err| unsafe {
            avc_dist_gather(self.ptr, input.as_ptr().cast_mut(), ptrs.as_ptr(), root as c_int, err)
        })
        .map_err(|e| self.blame(e))?;
        Ok((self.rank == root).then_some(outputs))
    }

    /// Waits until every rank is here.
    pub fn barrier(&self) -> Result<(), DistError> {
        // SAFETY: no pointers but the group's.
        call("barrier", |err| unsafe { avc_dist_barrier(self.ptr, err) }).map(drop).map_err(|e| self.blame(e))
    }

    /// Sets `key` in the job's store.
    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), DistError> {
        let what = format!("setting `{key}` in the store");
        let ckey = c_string(&what, key)?;
        // SAFETY: the key and value outlive the call.
        call(&what, |err| unsafe { avc_dist_store_set(self.ptr, ckey.as_ptr(), value.as_ptr(), value.len(), err) })
            .map(drop)
    }

    /// Waits (up to the group's timeout) for `key` in the store and reads it.
    pub fn get(&self, key: &str) -> Result<Vec<u8>, DistError> {
        self.get_within(key, self.timeout)
    }

    /// [`Group::get`] with its own bound.
    pub fn get_within(&self, key: &str, timeout: Duration) -> Result<Vec<u8>, DistError> {
        let what = format!("waiting for `{key}` in the store");
        let ckey = c_string(&what, key)?;
        let (mut value, mut len) = (std::ptr::null_mut(), 0usize);
        // SAFETY: the shim fills `value` with a malloc'd buffer of `len` bytes, freed below.
        call(&what, |err| unsafe {
            avc_dist_store_get(self.ptr, ckey.as_ptr(), millis(timeout), &mut value, &mut len, err)
        })?;
        // SAFETY: as above.
        let bytes = unsafe {
            let bytes = std::slice::from_raw_parts(value, len).to_vec();
            avc_dist_free(value.cast());
            bytes
        };
        Ok(bytes)
    }

    /// Whether `key` is set now, without waiting.
    pub fn has(&self, key: &str) -> Result<bool, DistError> {
        let what = format!("looking up `{key}` in the store");
        let ckey = c_string(&what, key)?;
        // SAFETY: the key outlives the call.
        call(&what, |err| unsafe { avc_dist_store_check(self.ptr, ckey.as_ptr(), err) }).map(|found| found == 1)
    }
}
