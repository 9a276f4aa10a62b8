// The CPU's fused optimizer step (cpu/adam.h), for vibetensor/optim/adam.py.
#include <nanobind/stl/vector.h>

#include "cpu/adam.h"
#include "python/common.h"

namespace vt::py {

void bind_optim(nb::module_& m) {
  // The fused Adam/AdamW step on CPU (vibetensor/optim/adam.py); max_exp_avg_sqs: empty without amsgrad.
  m.def("_cpu_adam_step", [](const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                             const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs,
                             const std::vector<Tensor>& max_exp_avg_sqs, const std::vector<Tensor>& steps, double lr,
                             double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                             bool amsgrad, bool maximize) {
    const size_t n = params.size();
    VT_CHECK_VALUE(grads.size() == n && exp_avgs.size() == n && exp_avg_sqs.size() == n && steps.size() == n &&
                       max_exp_avg_sqs.size() == (amsgrad ? n : 0),
                   "_cpu_adam_step: expected one gradient, state and step per parameter");
    std::vector<AdamTensors> ts(n);
    for (size_t i = 0; i < n; i++)
      ts[i] = {params[i], grads[i], exp_avgs[i], exp_avg_sqs[i], amsgrad ? max_exp_avg_sqs[i] : Tensor(), steps[i]};
    nb::gil_scoped_release release;
    adam_step_cpu(ts, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad, maximize);
  });
}

}  // namespace vt::py
