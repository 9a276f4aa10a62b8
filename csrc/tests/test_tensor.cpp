// Tensors, views, version counters, the allocator and the iterator, without Python.
#include "check.h"
#include "core/parallel.h"
#include "dispatch/dispatcher.h"
#include "ops/iterator.h"
#include "ops/views.h"

using namespace vt;

TEST(views_share_storage_and_version) {
  Tensor t = empty(DimVec{4, 6}, DType::Float32);
  Tensor v = transpose(t, 0, 1);
  CHECK(v.sizes() == (DimVec{6, 4}) && v.strides() == (DimVec{1, 6}) && !v.is_contiguous());
  CHECK(v.impl()->storage().get() == t.impl()->storage().get());
  uint32_t before = t.impl()->version();
  static TypedOp<Tensor(const Tensor&)> zero("zero_");
  zero(v);
  CHECK(t.impl()->version() == before + 1 && v.impl()->version() == before + 1);
  Tensor s = slice(t, 1, 1, 5, 2);
  CHECK(s.sizes() == (DimVec{4, 2}) && s.strides() == (DimVec{6, 2}) && s.storage_offset() == 1);
  CHECK_THROWS(view(v, DimVec{24}), Error);
  CHECK_THROWS(select(t, 0, 4), IndexError);
}

TEST(allocator_caches_blocks) {
  Allocator& a = cpu_allocator();
  a.empty_cache();
  AllocatorStats s0 = a.stats();
  { Tensor t = empty(DimVec{1000}, DType::Float32); }
  { Tensor t = empty(DimVec{1000}, DType::Float32); }  // same size class: served from the cache
  AllocatorStats s1 = a.stats();
  CHECK(s1.num_allocs - s0.num_allocs == 2 && s1.num_frees - s0.num_frees == 2);
  CHECK(s1.num_cache_hits - s0.num_cache_hits >= 1);
  CHECK(s1.allocated_bytes == s0.allocated_bytes);
  CHECK(s1.peak_allocated_bytes >= 4000);
  a.empty_cache();
  CHECK(a.stats().reserved_bytes == a.stats().allocated_bytes);
}

TEST(iterator_coalesces_and_orders) {
  Tensor a = empty(DimVec{8, 16}, DType::Float32);
  Tensor b = empty(DimVec{8, 16}, DType::Float32);
  TensorIterator it = TensorIteratorConfig("t").add_output(Tensor()).add_input(a).add_input(b).build();
  CHECK(it.ndim() == 1 && it.shape()[0] == 128 && it.is_contiguous());
  Tensor at = transpose(a, 0, 1);  // the output follows the input's memory order
  TensorIterator it2 = TensorIteratorConfig("t").add_output(Tensor()).add_input(at).build();
  CHECK(it2.output().strides() == at.strides());
  Tensor col = empty(DimVec{8, 1}, DType::Float64);
  TensorIterator it3 = TensorIteratorConfig("t").add_output(Tensor()).add_input(a).add_input(col).build();
  CHECK(it3.common_dtype() == DType::Float64 && it3.output().sizes() == (DimVec{8, 16}));
}

TEST(parallel_for_covers_range_once) {
  std::vector<int> hits(100000, 0);
  parallel_for(0, 100000, 1000, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++) hits[i]++;
  });
  bool all_once = true;
  for (int h : hits) all_once &= h == 1;
  CHECK(all_once);
  bool threw = false;
  try {
    parallel_for(0, 100000, 1000, [](int64_t b, int64_t) { if (b > 0) throw ValueError("boom"); });
  } catch (const ValueError&) {
    threw = true;
  }
  CHECK(threw);  // exceptions from worker chunks reach the caller
}
