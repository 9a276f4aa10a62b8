// Op schemas in PyTorch's notation, e.g.
//   "add(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor"
//   "max.dim(Tensor self, int dim, bool keepdim=False) -> (Tensor values, Tensor indices)"
//   "add_(Tensor(a!) self, Tensor other, *, Scalar alpha=1) -> Tensor(a!)"
// Parsed once when the op is declared; Python argument parsing and kernel signature checks read it.
#pragma once
#include <string>
#include <vector>

#include "dispatch/ivalue.h"

namespace vt {

enum class ArgType : uint8_t {
  Tensor, TensorList, OptTensorList, Int, IntList, Float, FloatList, Bool, Scalar, DType, Device, Str
};
const char* arg_type_name(ArgType t);

struct Arg {
  std::string name;
  ArgType type;
  bool optional = false;    // `T?`: None is accepted
  bool kwarg_only = false;  // after `*`
  bool has_default = false;
  IValue default_value;
  int fixed_size = 0;       // `int[2]`: a single int is broadcast to this many
  char alias = 0;           // `Tensor(a)` / `Tensor(a!)`: the alias set
  bool is_write = false;    // `Tensor(a!)`: written in place
};

struct Ret {
  std::string name;
  ArgType type;
  char alias = 0;
};

struct Schema {
  std::string name;       // base name: "max"
  std::string overload;   // "dim" in "max.dim"
  std::vector<Arg> args;
  std::vector<Ret> rets;
  std::string text;
  std::string full_name() const { return overload.empty() ? name : name + "." + overload; }
  bool is_inplace() const { return !args.empty() && args[0].is_write; }
  bool is_view() const { return !rets.empty() && rets[0].alias && !is_inplace(); }
  int find_arg(std::string_view n) const;
};

Schema parse_schema(const std::string& text);  // throws ValueError naming the problem

// Shared by the language bindings (csrc/python/args.cpp, csrc/node/args.cpp), which differ only in how they
// read a value:
// the expected type of `a` in an error message ("int or tuple of ints?"; `sequence` names the list type).
std::string arg_type_str(const Arg& a, const char* sequence);
// After the given arguments are placed (filled[i]), fills the others from their defaults; false (with the
// message in *err) when a required one is missing.
bool fill_defaults(const Schema& s, const std::vector<bool>& filled, Stack& stack, std::string* err);

}  // namespace vt
