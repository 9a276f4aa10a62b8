#include "dispatch/schema.h"

#include <cctype>
#include <cstdlib>

namespace vt {

const char* arg_type_name(ArgType t) {
  static const char* n[] = {"Tensor", "Tensor[]", "Tensor?[]", "int", "int[]", "float", "float[]",
                            "bool",   "Scalar",   "ScalarType", "Device", "str"};
  return n[int(t)];
}

int Schema::find_arg(std::string_view n) const {
  for (size_t i = 0; i < args.size(); i++)
    if (args[i].name == n) return int(i);
  return -1;
}

namespace {

struct Parser {
  const std::string& s;
  size_t i = 0;
  [[noreturn]] void fail(const std::string& why) {
    VT_THROW(ValueError, "bad schema '", s, "': ", why, " at column ", i);
  }
  void ws() { while (i < s.size() && std::isspace((unsigned char)s[i])) i++; }
  bool eat(std::string_view t) {
    ws();
    if (s.compare(i, t.size(), t) == 0) { i += t.size(); return true; }
    return false;
  }
  void expect(std::string_view t) { if (!eat(t)) fail("expected '" + std::string(t) + "'"); }
  std::string ident() {
    ws();
    size_t b = i;
    while (i < s.size() && (std::isalnum((unsigned char)s[i]) || s[i] == '_')) i++;
    if (b == i) fail("expected a name");
    return s.substr(b, i - b);
  }

  // Type, with its optional `(a!)` alias annotation, `?` and `[]`/`[N]` suffixes.
  void type(ArgType& t, bool& opt, int& fixed, char& alias, bool& write) {
    std::string base = ident();
    if (eat("(")) {
      ws();
      alias = s[i++];
      write = eat("!");
      expect(")");
    }
    bool list = false, elem_opt = false;
    if (eat("?")) elem_opt = true;
    if (eat("[")) {
      list = true;
      ws();
      if (std::isdigit((unsigned char)s[i])) fixed = int(std::strtol(s.c_str() + i, nullptr, 10));
      while (i < s.size() && std::isdigit((unsigned char)s[i])) i++;
      expect("]");
    }
    opt = eat("?");
    if (list && elem_opt && base != "Tensor") fail("only Tensor?[] lists may hold None");
    if (!list && elem_opt) opt = true;
    if (base == "Tensor") t = list ? (elem_opt ? ArgType::OptTensorList : ArgType::TensorList) : ArgType::Tensor;
    else if (base == "int" || base == "SymInt") t = list ? ArgType::IntList : ArgType::Int;
    else if (base == "float") t = list ? ArgType::FloatList : ArgType::Float;
    else if (base == "bool" && !list) t = ArgType::Bool;
    else if (base == "Scalar" && !list) t = ArgType::Scalar;
    else if (base == "ScalarType" && !list) t = ArgType::DType;
    else if (base == "Device" && !list) t = ArgType::Device;
    else if (base == "str" && !list) t = ArgType::Str;
    else fail("unknown type '" + base + (list ? "[]'" : "'"));
  }

  IValue literal(const Arg& a) {
    ws();
    if (eat("None")) {
      if (!a.optional) fail("None default for non-optional argument '" + a.name + "'");
      return None{};
    }
    if (eat("True")) return a.type == ArgType::Scalar ? IValue(Scalar(true)) : IValue(true);
    if (eat("False")) return a.type == ArgType::Scalar ? IValue(Scalar(false)) : IValue(false);
    if (s[i] == '\'' || s[i] == '"') {
      char q = s[i++];
      size_t b = i;
      while (i < s.size() && s[i] != q) i++;
      if (i >= s.size()) fail("unterminated string");
      return std::string(s.substr(b, i++ - b));
    }
    if (s[i] == '[') {
      i++;
      IntList il;
      FloatList fl;
      while (!eat("]")) {
        ws();
        char* end;
        double v = std::strtod(s.c_str() + i, &end);
        if (end == s.c_str() + i) fail("bad list literal");
        il.push_back(int64_t(v));
        fl.push_back(v);
        i = end - s.c_str();
        eat(",");
      }
      if (a.type == ArgType::IntList) return il;
      if (a.type == ArgType::FloatList) return fl;
      if ((a.type == ArgType::TensorList || a.type == ArgType::OptTensorList) && il.empty()) return TensorList{};
      fail("list default for '" + a.name + "'");
    }
    if (a.type == ArgType::DType) {
      std::string n = ident();
      DType d;
      if (!parse_dtype(n, d)) fail("unknown dtype " + n);
      return d;
    }
    char* end;
    const char* p = s.c_str() + i;
    long long iv = std::strtoll(p, &end, 10);
    bool is_int = end != p && *end != '.' && *end != 'e' && *end != 'E';
    double dv = std::strtod(p, &end);
    if (end == p) fail("bad default for '" + a.name + "'");
    i = end - s.c_str();
    switch (a.type) {
      case ArgType::Int: return int64_t(iv);
      case ArgType::IntList: return IntList(a.fixed_size ? a.fixed_size : 1, int64_t(iv));
      case ArgType::Float: return dv;
      case ArgType::Scalar: return is_int ? Scalar(int64_t(iv)) : Scalar(dv);
      default: fail("numeric default for '" + a.name + "'");
    }
  }

  Schema parse() {
    Schema sc;
    sc.text = s;
    sc.name = ident();
    if (eat("::")) sc.name += "::" + ident();  // a namespaced op from the library API
    if (eat(".")) sc.overload = ident();
    expect("(");
    bool kw = false;
    if (!eat(")")) {
      for (;;) {
        if (eat("*")) {
          kw = true;
        } else {
          Arg a;
          type(a.type, a.optional, a.fixed_size, a.alias, a.is_write);
          a.name = ident();
          a.kwarg_only = kw;
          if (eat("=")) {
            a.has_default = true;
            a.default_value = literal(a);
          }
          sc.args.push_back(std::move(a));
        }
        if (eat(")")) break;
        expect(",");
      }
    }
    expect("->");
    bool tuple = eat("(");
    do {
      if (tuple && eat(")")) { tuple = false; break; }
      Ret r;
      bool opt, w;
      int fixed = 0;
      type(r.type, opt, fixed, r.alias, w);
      ws();
      if (i < s.size() && (std::isalpha((unsigned char)s[i]) || s[i] == '_')) r.name = ident();
      sc.rets.push_back(r);
    } while (eat(","));
    if (tuple) expect(")");
    ws();
    if (i != s.size()) fail("trailing text");
    return sc;
  }
};

}  // namespace

Schema parse_schema(const std::string& text) { return Parser{text}.parse(); }

std::string ivalue_type_name(const IValue& v) {
  static const char* names[] = {"None", "Tensor", "int", "float", "bool", "Scalar",
                                "int[]", "float[]", "Tensor[]", "dtype", "device", "str"};
  return names[v.index()];
}

std::string arg_type_str(const Arg& a, const char* sequence) {
  std::string t = arg_type_name(a.type);
  if (a.type == ArgType::IntList && a.fixed_size) t = std::string("int or ") + sequence + " of ints";
  return a.optional ? t + "?" : t;
}

bool fill_defaults(const Schema& s, const std::vector<bool>& filled, Stack& stack, std::string* err) {
  for (size_t i = 0; i < s.args.size(); i++) {
    if (filled[i]) continue;
    if (!s.args[i].has_default) {
      if (err) *err = s.name + "() missing required argument '" + s.args[i].name + "' (pos " + std::to_string(i + 1) + ")";
      return false;
    }
    stack[i] = s.args[i].default_value;
  }
  return true;
}

}  // namespace vt
