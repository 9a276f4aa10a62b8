// Peer memory for the fabric's GPU transport (fabric/collectives/cuda_*.py).
//
// A collective's ranks read each other's buffers directly: in one process through unified virtual
// addresses (peer access enabled between the GPUs; virtual devices on one GPU need nothing), between processes
// through CUDA IPC handles exchanged when the group starts. IPC handles name whole allocations, so the
// transport's persistent buffers are their own cuMemAlloc allocations (segments), not caching-allocator
// blocks. Flags and status words that the host must read without synchronizing live in host-mapped pinned
// memory (device-visible at the same address under UVA).
#pragma once
#include <cstdint>
#include <string>

#include "core/tensor.h"

namespace vt::cuda {

// A zeroed uint8 tensor of `nbytes` in its own device allocation (exportable with ipc_handle).
Tensor peer_segment(int64_t nbytes, int device);
// The 64-byte CUDA IPC handle of a segment; `t` must start at its allocation's first byte.
std::string ipc_handle(const Tensor& t);
// Maps another process's segment into this one as a uint8 tensor of `nbytes` on `device`; unmapped when the
// last view is freed. Raises a clear error for a malformed handle or one of this process's own segments.
Tensor ipc_open(const std::string& handle, int64_t nbytes, int device);
// A zeroed uint8 CPU tensor in pinned, device-mapped memory: kernels may read and write it by its address.
// Allocated with `device`'s context current (-1: the current device), which the driver needs.
Tensor host_mapped(int64_t nbytes, int device);
// Lets kernels on `device` read `peer`'s memory (a no-op for the same device); false if the GPUs can't.
bool enable_peer_access(int device, int peer);

}  // namespace vt::cuda
