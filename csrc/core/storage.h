// A refcounted block of device memory. The version counter lives here: every view of a storage sees the
// same count, which is what autograd's "modified in place" check needs.
#pragma once
#include <atomic>
#include <cstddef>

#include "core/allocator.h"
#include "core/refcount.h"

namespace vt {

class StorageImpl : public RefCounted<StorageImpl> {
 public:
  StorageImpl(DataPtr d, size_t nbytes, bool writable = true)
      : data_(std::move(d)), nbytes_(nbytes), writable_(writable) {}
  void* data() const { return data_.ptr; }
  const DataPtr& data_ptr() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return data_.device; }
  bool writable() const { return writable_; }
  std::atomic<uint32_t>& version() { return version_; }

 private:
  DataPtr data_;
  size_t nbytes_;
  bool writable_;  // false for read-only numpy arrays and read-only mmaps
  std::atomic<uint32_t> version_{0};
};
using Storage = Ref<StorageImpl>;

// Allocators per device type; the CUDA runtime registers its own when it loads.
using AllocatorGetter = Allocator* (*)(int16_t index);
void register_allocator(DeviceType type, AllocatorGetter getter);
Allocator& allocator_for(Device d);
Storage new_storage(size_t nbytes, Device d);

}  // namespace vt
