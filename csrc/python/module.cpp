#include <nanobind/nanobind.h>
namespace nb = nanobind;
NB_MODULE(_C, m) { m.def("hello", [] { return 1; }); }
