// JS arguments -> a boxed stack, by schema; results -> JS. The rules follow the Python binding
// (csrc/python/args.cpp) so one call reads the same in both languages:
//   ops.add(a, b, {alpha: 2})        positional arguments, then keyword arguments as a plain object
//   ops.sum(x, {dim: 1, keepdim: true}), ops.view(x, 2, 3) or ops.view(x, [2, 3])
// JS numbers without a fraction are ints (like Python's `2`), others floats; BigInt is an int; dtypes and
// devices are strings ("float32", "cuda:1"); null/undefined is None. Overloads are tried in declaration
// order (max, then max.dim, then max.other).
#pragma once
#include <string>
#include <vector>

#include "dispatch/dispatcher.h"
#include "node/napi.h"

namespace vt::node {

struct OpOverloads {
  std::string name;
  std::vector<const OpEntry*> ops;
};
// Every op of the table grouped by base name; throws a TypeError naming an unknown op.
const OpOverloads& overloads(const std::string& base);
std::vector<std::string> op_base_names();

struct ParsedCall {
  const OpEntry* op = nullptr;
  Stack stack;
  napi_value self = nullptr;  // the JS object of the first tensor argument (in-place ops return it)
};
// kwargs: a plain object or nullptr. Throws a TypeError that says why no overload matched.
ParsedCall parse_call(napi_env env, const OpOverloads& ov, const std::vector<napi_value>& args, napi_value kwargs);

napi_value ivalue_to_js(napi_env env, const IValue& v);
// One result as its value; several as an array that also carries the schema's names
// (`const {values, indices} = await ops.max(x, 1)` or `const [v, i] = ...`).
napi_value results_to_js(napi_env env, const OpEntry& op, const Stack& stack, napi_value self);

}  // namespace vt::node
