// Sizes and strides: up to kInline values live inside the object, so making a tensor of ordinary rank
// allocates no separate arrays.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <span>
#include <vector>

namespace vt {

using IntArrayRef = std::span<const int64_t>;

class DimVec {
 public:
  static constexpr size_t kInline = 6;
  DimVec() = default;
  explicit DimVec(size_t n, int64_t v = 0) { resize(n, v); }
  DimVec(IntArrayRef a) { assign(a); }
  DimVec(std::initializer_list<int64_t> a) { assign(IntArrayRef(a.begin(), a.size())); }
  DimVec(const std::vector<int64_t>& a) { assign(IntArrayRef(a)); }
  DimVec(const DimVec& o) { assign(o); }
  DimVec& operator=(const DimVec& o) { if (this != &o) assign(o); return *this; }
  DimVec(DimVec&& o) noexcept { steal(o); }
  DimVec& operator=(DimVec&& o) noexcept { if (this != &o) { release(); steal(o); } return *this; }
  ~DimVec() { release(); }

  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  int64_t* data() { return heap_ ? heap_ : inline_; }
  const int64_t* data() const { return heap_ ? heap_ : inline_; }
  int64_t& operator[](size_t i) { return data()[i]; }
  int64_t operator[](size_t i) const { return data()[i]; }
  int64_t* begin() { return data(); }
  int64_t* end() { return data() + n_; }
  const int64_t* begin() const { return data(); }
  const int64_t* end() const { return data() + n_; }
  int64_t back() const { return data()[n_ - 1]; }
  operator IntArrayRef() const { return IntArrayRef(data(), n_); }
  std::vector<int64_t> vec() const { return std::vector<int64_t>(begin(), end()); }

  void resize(size_t n, int64_t v = 0) {
    reserve(n);
    for (size_t i = n_; i < n; i++) data()[i] = v;
    n_ = n;
  }
  void push_back(int64_t v) { reserve(n_ + 1); data()[n_++] = v; }
  void insert(size_t pos, int64_t v) {
    reserve(n_ + 1);
    int64_t* d = data();
    std::memmove(d + pos + 1, d + pos, (n_ - pos) * sizeof(int64_t));
    d[pos] = v;
    n_++;
  }
  void erase(size_t pos) {
    int64_t* d = data();
    std::memmove(d + pos, d + pos + 1, (n_ - pos - 1) * sizeof(int64_t));
    n_--;
  }
  bool operator==(const DimVec& o) const { return n_ == o.n_ && std::equal(begin(), end(), o.begin()); }
  bool operator!=(const DimVec& o) const { return !(*this == o); }

 private:
  void assign(IntArrayRef a) {
    n_ = 0;
    reserve(a.size());
    if (!a.empty()) std::memcpy(data(), a.data(), a.size() * sizeof(int64_t));
    n_ = a.size();
  }
  void reserve(size_t n) {
    if (n <= cap()) return;
    size_t c = std::max(n, 2 * cap());
    int64_t* h = new int64_t[c];
    std::memcpy(h, data(), n_ * sizeof(int64_t));
    release();
    heap_ = h;
    cap_ = c;
  }
  size_t cap() const { return heap_ ? cap_ : kInline; }
  void release() { delete[] heap_; heap_ = nullptr; }
  void steal(DimVec& o) {
    n_ = o.n_;
    if (o.heap_) { heap_ = o.heap_; cap_ = o.cap_; o.heap_ = nullptr; }
    else std::memcpy(inline_, o.inline_, n_ * sizeof(int64_t));
    o.n_ = 0;
  }
  size_t n_ = 0, cap_ = 0;
  int64_t* heap_ = nullptr;
  int64_t inline_[kInline];
};

}  // namespace vt
