"""Which names of PyTorch's public API vibetensor.torch has: counts, missing lists, a JSON report.

For each namespace (torch, torch.Tensor, torch.nn, torch.nn.functional, torch.nn.init, torch.optim,
torch.optim.lr_scheduler, torch.utils.data, torch.autograd) the candidate names come from torch itself:
``__all__`` where the module defines it, else its public attributes, kept when they are callables or
classes that torch defines (typing helpers and imported modules are dropped), plus dtypes for ``torch``.
A second, hand-picked tier, COMMON, lists the names training scripts use most; its coverage is the figure
that matters for running scripts, the full one shows the distance to all of PyTorch.

    python tools/api_parity.py                      # summary table + missing COMMON names
    python tools/api_parity.py --missing all        # also every missing name
    python tools/api_parity.py --json /tmp/p.json   # report elsewhere (default benchmarks/results/api_parity.json)
"""
import argparse
import datetime
import importlib
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_JSON = os.path.join(REPO, "benchmarks", "results", "api_parity.json")

SECTIONS = ["torch", "torch.Tensor", "torch.nn", "torch.nn.functional", "torch.nn.init", "torch.optim",
            "torch.optim.lr_scheduler", "torch.utils.data", "torch.autograd"]

# What training scripts reach for most (judged from typical PyTorch training code, not measured).
COMMON = {
    "torch": """tensor as_tensor from_numpy zeros ones empty full arange linspace eye zeros_like ones_like full_like
        empty_like rand randn randint randperm rand_like randn_like manual_seed seed Generator cat stack split chunk
        where clamp exp log sqrt tanh sigmoid softmax log_softmax matmul mm bmm einsum sum mean max min argmax argmin
        topk sort cumsum multinomial allclose isclose equal no_grad enable_grad inference_mode set_grad_enabled
        is_grad_enabled Tensor Size device dtype float32 float16 bfloat16 float64 int64 int32 long float bool uint8
        save load is_tensor numel set_num_threads get_num_threads get_default_dtype set_default_dtype tril triu
        outer abs pow flatten reshape permute transpose unsqueeze squeeze gather scatter compile autocast
        use_deterministic_algorithms get_rng_state set_rng_state dropout relu norm std var""",
    "torch.Tensor": """backward grad requires_grad requires_grad_ detach item tolist numpy to cpu cuda float long half
        bfloat16 double int bool size shape dim ndim numel view reshape permute transpose contiguous unsqueeze
        squeeze expand expand_as repeat flatten sum mean max min argmax softmax log_softmax exp log sqrt pow abs
        clamp masked_fill masked_fill_ fill_ zero_ copy_ add_ mul_ sub_ div_ add mul sub div matmul t T mT clone
        data device dtype is_leaf grad_fn eq ne lt gt all any tril triu split chunk gather scatter_ index_select
        type_as new_zeros new_ones new_tensor uniform_ normal_ is_contiguous std var norm topk sort cumsum lerp_
        addcmul_ addcdiv_ register_hook retain_grad view_as unbind sigmoid tanh relu""",
    "torch.nn": """Module Parameter Linear Embedding LayerNorm RMSNorm Dropout ReLU GELU SiLU Tanh Sigmoid Softmax
        LogSoftmax Sequential ModuleList ModuleDict ParameterList ParameterDict Identity Flatten MultiheadAttention
        CrossEntropyLoss MSELoss L1Loss NLLLoss BCEWithLogitsLoss BCELoss SmoothL1Loss Conv1d Conv2d BatchNorm1d
        BatchNorm2d GroupNorm MaxPool2d AdaptiveAvgPool2d TransformerEncoderLayer TransformerEncoder LSTM GRU""",
    "torch.nn.functional": """relu gelu silu sigmoid tanh softmax log_softmax linear embedding dropout layer_norm
        rms_norm cross_entropy mse_loss l1_loss nll_loss binary_cross_entropy binary_cross_entropy_with_logits
        scaled_dot_product_attention one_hot pad normalize conv2d max_pool2d avg_pool2d adaptive_avg_pool2d
        batch_norm group_norm leaky_relu softplus interpolate kl_div cosine_similarity smooth_l1_loss""",
    "torch.nn.init": """uniform_ normal_ trunc_normal_ constant_ zeros_ ones_ xavier_uniform_ xavier_normal_
        kaiming_uniform_ kaiming_normal_ orthogonal_ calculate_gain""",
    "torch.optim": "Optimizer SGD Adam AdamW RMSprop Adagrad",
    "torch.optim.lr_scheduler": """LRScheduler LambdaLR StepLR MultiStepLR ExponentialLR CosineAnnealingLR LinearLR
        SequentialLR OneCycleLR ReduceLROnPlateau CosineAnnealingWarmRestarts""",
    "torch.utils.data": """Dataset IterableDataset TensorDataset DataLoader Subset random_split ConcatDataset Sampler
        RandomSampler SequentialSampler BatchSampler SubsetRandomSampler default_collate""",
    "torch.autograd": "grad backward Function gradcheck no_grad enable_grad set_grad_enabled",
}
COMMON = {k: v.split() for k, v in COMMON.items()}

# Sections whose names are op-table names, so a present name can be checked for a registered kernel.
_OP_SECTIONS = ("torch", "torch.Tensor")

# Modules a name may come from and still be "torch's own" (typing helpers and the like are not API).
_FOREIGN_MODULES = ("typing", "collections", "builtins", "abc", "torch._jit_internal", "torch.overrides",
                    "torch.types", "dataclasses", "enum", "functools")


def _resolve(root, dotted):
    """`torch.nn.functional` -> that module (or class, for torch.Tensor) under `root` (torch or vibetensor.torch)."""
    obj = root
    for part in dotted.split(".")[1:]:
        try:
            obj = importlib.import_module(f"{obj.__name__}.{part}") if _is_module(obj) else getattr(obj, part)
        except ImportError:
            obj = getattr(obj, part)
    return obj


def _is_module(obj):
    return type(obj).__name__ == "module"


def _is_api(value, torch):
    if _is_module(value):
        return False
    if isinstance(value, torch.dtype):
        return True
    if not callable(value):
        return False
    module = getattr(value, "__module__", None) or ""
    return not module.startswith(_FOREIGN_MODULES)


def torch_names(torch, section):
    """(source description, sorted candidate names) for one section of torch's API."""
    obj = _resolve(torch, section)
    if not _is_module(obj):  # a class: its public methods and properties
        return "dir(torch.Tensor), public", sorted(n for n in dir(obj) if not n.startswith("_"))
    names = getattr(obj, "__all__", None)
    source = f"{section}.__all__"
    if names is None:
        names, source = dir(obj), f"dir({section})"
    kept = {n for n in names if not n.startswith("_") and hasattr(obj, n) and _is_api(getattr(obj, n), torch)}
    return source + ", public callables/classes" + (" and dtypes" if section == "torch" else ""), sorted(kept)


def ops_without_kernels():
    """Op names (and their in-place/method spellings) with no CPU or composite kernel registered yet: such a
    name exists in vibetensor.torch but calling it raises "has no kernel for cpu"."""
    from vibetensor import _C
    kernels = {}
    for op in _C._op_table():
        kernels[op["base"]] = kernels.get(op["base"], False) or bool(op["kernels"])
    return sorted(name for name, has in kernels.items() if not has)


def check(torch, vtorch):
    """The report: per section, torch's names, which vibetensor.torch has, and the COMMON tier."""
    sections = {}
    kernelless = set(ops_without_kernels())
    for section in SECTIONS:
        source, names = torch_names(torch, section)
        try:
            ours = _resolve(vtorch, section)
        except AttributeError:
            ours = None
        has = (lambda n: ours is not None and hasattr(ours, n))
        common = COMMON.get(section, [])
        sections[section] = {
            "source": source, "total": len(names), "present": sum(map(has, names)),
            "missing": [n for n in names if not has(n)],
            "present_without_cpu_kernel": [n for n in names if has(n) and n in kernelless and section in _OP_SECTIONS],
            "common": {"total": len(common), "present": sum(map(has, common)),
                       "missing": [n for n in common if not has(n)]},
        }
    return sections


def summary(report):
    lines = [f"API parity: vibetensor.torch {report['vibetensor_version']} vs torch {report['torch_version']}", "",
             "| namespace | common (scripts) | all of torch's | of which no CPU kernel yet |", "|---|---|---|---|"]
    for name, s in report["sections"].items():
        c = s["common"]
        lines.append(f"| {name} | {c['present']}/{c['total']} ({_pct(c)}) | {s['present']}/{s['total']} ({_pct(s)}) "
                     f"| {len(s['present_without_cpu_kernel']) if name in _OP_SECTIONS else '-'} |")
    t = report["totals"]
    lines.append(f"| **total** | {t['common_present']}/{t['common_total']} | {t['present']}/{t['total']} | "
                 f"{t['present_without_cpu_kernel']} |")
    return "\n".join(lines)


def _pct(s):
    return f"{100.0 * s['present'] / s['total']:.0f}%" if s["total"] else "-"


def missing_lines(report, which):
    lines = []
    for name, s in report["sections"].items():
        missing = s["common"]["missing"] if which == "common" else s["missing"]
        if missing:
            lines.append(f"\nmissing from {name} ({which}, {len(missing)}): " + ", ".join(missing))
    return lines


def build_report(torch, vtorch):
    sections = check(torch, vtorch)
    totals = {k: sum(s[k] for s in sections.values()) for k in ("total", "present")}
    totals.update({f"common_{k}": sum(s["common"][k] for s in sections.values()) for k in ("total", "present")})
    totals["present_without_cpu_kernel"] = sum(len(s["present_without_cpu_kernel"]) for s in sections.values())
    return {"torch_version": torch.__version__, "vibetensor_version": vtorch.__version__,
            "date": datetime.datetime.now().isoformat(timespec="seconds"), "totals": totals, "sections": sections}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", default=DEFAULT_JSON, help="where to write the JSON report")
    p.add_argument("--missing", choices=["none", "common", "all"], default="common",
                   help="which missing names to print (the JSON always has all of them)")
    args = p.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("api_parity: needs PyTorch installed (it reads torch's own name lists)", file=sys.stderr)
        return 2
    import vibetensor.torch as vtorch
    report = build_report(torch, vtorch)
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(report, f, indent=1)
    print(summary(report))
    if args.missing != "none":
        print("\n".join(missing_lines(report, args.missing)))
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
