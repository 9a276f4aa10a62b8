// The boxed calling convention: a stack of IValues. Python calls, Python kernels and generic code
// (autograd, tracing) use it; typed C++ calls skip it entirely.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <variant>
#include <vector>

#include "core/tensor.h"

namespace vt {

using TensorList = std::vector<Tensor>;  // in a `Tensor?[]`, an undefined Tensor stands for None
using IntList = std::vector<int64_t>;
using FloatList = std::vector<double>;

struct None {};
using IValue = std::variant<None, Tensor, int64_t, double, bool, Scalar, IntList, FloatList, TensorList, DType,
                            Device, std::string>;
using Stack = std::vector<IValue>;

inline bool is_none(const IValue& v) { return std::holds_alternative<None>(v); }
std::string ivalue_type_name(const IValue& v);

// ---- C++ value <-> IValue ----------------------------------------------------------------------------
template <class T> struct IValueConv;
#define VT_IVALUE_DIRECT(T)                                                         \
  template <> struct IValueConv<T> {                                                \
    static IValue box(const T& v) { return IValue(v); }                             \
    static const T& unbox(const IValue& v) { return std::get<T>(v); }               \
  };
VT_IVALUE_DIRECT(int64_t)
VT_IVALUE_DIRECT(double)
VT_IVALUE_DIRECT(bool)
VT_IVALUE_DIRECT(DType)
VT_IVALUE_DIRECT(Device)
VT_IVALUE_DIRECT(TensorList)
#undef VT_IVALUE_DIRECT

template <> struct IValueConv<Tensor> {  // also `Tensor?`: None <-> undefined
  static IValue box(const Tensor& t) { return t.defined() ? IValue(t) : IValue(None{}); }
  static Tensor unbox(const IValue& v) { return is_none(v) ? Tensor() : std::get<Tensor>(v); }
};
template <> struct IValueConv<Scalar> {
  static IValue box(const Scalar& s) { return IValue(s); }
  static Scalar unbox(const IValue& v) {
    if (auto* s = std::get_if<Scalar>(&v)) return *s;
    if (auto* i = std::get_if<int64_t>(&v)) return Scalar(*i);
    if (auto* d = std::get_if<double>(&v)) return Scalar(*d);
    return Scalar(std::get<bool>(v));
  }
};
template <> struct IValueConv<IntArrayRef> {
  static IValue box(IntArrayRef a) { return IValue(IntList(a.begin(), a.end())); }
  static IntArrayRef unbox(const IValue& v) { return IntArrayRef(std::get<IntList>(v)); }
};
template <> struct IValueConv<std::string_view> {
  static IValue box(std::string_view s) { return IValue(std::string(s)); }
  static std::string_view unbox(const IValue& v) { return std::get<std::string>(v); }
};
template <class T> struct IValueConv<std::optional<T>> {
  static IValue box(const std::optional<T>& v) { return v ? IValueConv<T>::box(*v) : IValue(None{}); }
  static std::optional<T> unbox(const IValue& v) {
    if (is_none(v)) return std::nullopt;
    return std::optional<T>(IValueConv<T>::unbox(v));
  }
};

template <class T> using bare_t = std::remove_cv_t<std::remove_reference_t<T>>;

// Results: a Tensor, a tuple of them, or a list.
template <class R> struct ReturnConv {
  static void push(Stack& s, R&& r) { s.push_back(IValueConv<bare_t<R>>::box(r)); }
  static R pop(Stack& s) { return bare_t<R>(IValueConv<bare_t<R>>::unbox(s[0])); }
  static constexpr int count = 1;
};
template <class... T> struct ReturnConv<std::tuple<T...>> {
  static void push(Stack& s, std::tuple<T...>&& r) {
    std::apply([&](auto&... x) { (s.push_back(IValueConv<bare_t<decltype(x)>>::box(x)), ...); }, r);
  }
  static std::tuple<T...> pop(Stack& s) { return pop_impl(s, std::index_sequence_for<T...>{}); }
  template <size_t... I> static std::tuple<T...> pop_impl(Stack& s, std::index_sequence<I...>) {
    return std::tuple<T...>(IValueConv<T>::unbox(s[I])...);
  }
  static constexpr int count = sizeof...(T);
};
template <> struct ReturnConv<void> {
  static constexpr int count = 0;
};

}  // namespace vt
