"""repr() of tensors, formatted as PyTorch formats them (precision 4, sci mode when ranges are wide,
summarised past 1000 elements with 3 edge items, 80-column lines)."""
import math

PRECISION = 4
THRESHOLD = 1000
EDGEITEMS = 3
LINEWIDTH = 80


class _Formatter:
    """Picks one format for all elements so columns line up."""

    def __init__(self, values, floating):
        self.floating = floating
        self.int_mode = True
        self.sci_mode = False
        self.width = 1
        if not floating:
            self.width = max((len(str(v)) for v in values), default=1)
            return
        finite = [v for v in values if math.isfinite(v)]
        nonzero = [abs(v) for v in finite if v != 0]
        self.int_mode = all(v == math.ceil(v) for v in finite)
        if nonzero:
            lo, hi = min(nonzero), max(nonzero)
            if self.int_mode:
                self.sci_mode = hi / lo > 1000.0 or hi > 1e8
            else:
                self.sci_mode = hi / lo > 1000.0 or hi > 1e8 or lo < 1e-4
        # Like PyTorch, only nonzero finite values set the column width.
        self.width = max((len(self.format(v)) for v in finite if v != 0), default=1)

    def format(self, v):
        if not self.floating:
            return str(v)
        if not math.isfinite(v):
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        if self.sci_mode:
            return f"{v:.{PRECISION}e}"
        if self.int_mode:
            return f"{v:.0f}."
        return f"{v:.{PRECISION}f}"

    def pad(self, v):
        return self.format(v).rjust(self.width)


def _flat_values(t, summarize):
    """The elements that will be printed (edges only when summarising), as Python numbers."""
    if not summarize or t.dim() == 0:
        vals = t.tolist()
    else:
        vals = _edges(t).tolist()
    out = []

    def walk(x):
        if isinstance(x, list):
            for y in x:
                walk(y)
        else:
            out.append(x)

    walk(vals)
    return out


def _edges(t):
    from .ops import cat
    if t.dim() == 0:
        return t
    if t.shape[0] > 2 * EDGEITEMS:
        t = cat([t[:EDGEITEMS], t[-EDGEITEMS:]])
    return cat([_edges(x).unsqueeze(0) for x in t]) if t.dim() > 1 else t


def _format_body(data, fmt, indent, summarize, dim_sizes):
    if not isinstance(data, list):
        return fmt.pad(data)
    if not data:
        return "[]"
    size = dim_sizes[0]
    if not isinstance(data[0], list):  # innermost dimension: wrap lines at LINEWIDTH
        items = [fmt.pad(v) for v in data]
        if summarize and size > 2 * EDGEITEMS:
            items = items[:EDGEITEMS] + [" ..."] + items[-EDGEITEMS:]  # PyTorch pads it so
        per_line = max((LINEWIDTH - indent) // (fmt.width + 2), 1)
        lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    rows = [_format_body(x, fmt, indent + 1, summarize, dim_sizes[1:]) for x in data]
    if summarize and size > 2 * EDGEITEMS:
        rows = rows[:EDGEITEMS] + ["..."] + rows[-EDGEITEMS:]
    sep = "," + "\n" * (len(dim_sizes) - 1) + " " * (indent + 1)
    return "[" + sep.join(rows) + "]"


def _edge_list(t, summarize):
    if not summarize or t.dim() == 0:
        return t.tolist()
    return _edges(t).tolist()


def tensor_repr(t, prefix="tensor("):
    from . import dtypes as dt
    suffixes = []
    if t.device.type != "cpu":
        suffixes.append(f"device='{t.device}'")
    work = t
    if t.device.type != "cpu":
        work = t.cpu()
    floating = t.dtype.is_floating_point
    if t.dtype in (dt.float16, dt.bfloat16):
        work = work.float()
    summarize = t.numel() > THRESHOLD
    indent = len(prefix)
    if t.numel() == 0:
        body = "[]"
        if t.dim() != 1:
            suffixes.append(f"size={tuple(t.shape)}")
    else:
        fmt = _Formatter(_flat_values(work, summarize), floating)
        body = _format_body(_edge_list(work, summarize), fmt, indent, summarize, list(t.shape))
    default_dtype = dt.float32 if floating else (dt.int64 if t.dtype != dt.bool else dt.bool)
    if t.dtype != default_dtype:
        suffixes.append(f"dtype=vibetensor.{t.dtype.name}")
    meta = getattr(t, "_autograd_meta", None)
    grad_fn = getattr(meta, "grad_fn", None) if meta is not None else None
    if grad_fn is not None:
        suffixes.append(f"grad_fn=<{type(grad_fn).__name__}>")
    elif t._requires_grad:
        suffixes.append("requires_grad=True")
    return prefix + body + "".join(", " + s for s in suffixes) + ")"
