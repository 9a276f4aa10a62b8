// Intrusive reference counting: one atomic in the object, no control block, so a Tensor handle is one
// pointer and copying it costs one relaxed increment.
#pragma once
#include <atomic>
#include <cstdint>
#include <utility>

namespace vt {

template <class T>
class RefCounted {
 public:
  void incref() const { refs_.fetch_add(1, std::memory_order_relaxed); }
  void decref() const {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete static_cast<const T*>(this);
  }
  int32_t use_count() const { return refs_.load(std::memory_order_relaxed); }

 private:
  mutable std::atomic<int32_t> refs_{0};
};

template <class T>
class Ref {
 public:
  Ref() = default;
  Ref(std::nullptr_t) {}
  explicit Ref(T* p) : p_(p) { if (p_) p_->incref(); }
  Ref(const Ref& o) : p_(o.p_) { if (p_) p_->incref(); }
  Ref(Ref&& o) noexcept : p_(o.p_) { o.p_ = nullptr; }
  ~Ref() { if (p_) p_->decref(); }
  Ref& operator=(Ref o) noexcept { std::swap(p_, o.p_); return *this; }
  T* get() const { return p_; }
  T* operator->() const { return p_; }
  T& operator*() const { return *p_; }
  explicit operator bool() const { return p_ != nullptr; }
  bool operator==(const Ref& o) const { return p_ == o.p_; }
  template <class... A> static Ref make(A&&... a) { return Ref(new T(std::forward<A>(a)...)); }

 private:
  T* p_ = nullptr;
};

}  // namespace vt
