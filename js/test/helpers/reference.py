"""Runs op calls described by the Node tests through vibetensor's Python API and prints the results.

stdin: {"tensors": [{"dtype", "shape", "b64"}], "calls": [{"op", "args", "kwargs", "seed"}]}, where an
argument {"$t": i} is tensors[i]. stdout: {"results": [...]}, one per call: a tensor as
{"$t": {"dtype", "shape", "b64"}}, a list for several results, or {"error": {"type", "message"}}.

    echo '{"tensors": [], "calls": [{"op": "arange", "args": [3], "kwargs": {}}]}' | python reference.py
"""

import base64
import json
import sys

import numpy as np

import vibetensor as vt


def decode_tensor(d):
    raw = base64.b64decode(d["b64"])
    if d["dtype"] in ("float16", "bfloat16"):  # sent as float32 values (JS has no 16-bit float arrays)
        arr = np.frombuffer(raw, dtype=np.float32).reshape(d["shape"])
        return vt.from_numpy(arr.copy()).to(getattr(vt, d["dtype"]))
    np_dtype = np.bool_ if d["dtype"] == "bool" else np.dtype(d["dtype"])
    return vt.from_numpy(np.frombuffer(raw, dtype=np_dtype).reshape(d["shape"]).copy())


def encode(value):
    if isinstance(value, vt.Tensor):
        t = value.float() if value.dtype in (vt.float16, vt.bfloat16) else value
        arr = np.ascontiguousarray(t.numpy())
        return {"$t": {"dtype": str(value.dtype).replace("vibetensor.", ""), "shape": list(value.shape),
                       "b64": base64.b64encode(arr.tobytes()).decode()}}
    if isinstance(value, (tuple, list)):
        return [encode(v) for v in value]
    return value


def resolve(value, tensors):
    if isinstance(value, dict) and "$t" in value:
        return tensors[value["$t"]]
    if isinstance(value, list):
        return [resolve(v, tensors) for v in value]
    return value


def run(call, tensors):
    args = [resolve(a, tensors) for a in call["args"]]
    kwargs = {k: resolve(v, tensors) for k, v in call.get("kwargs", {}).items()}
    if isinstance(kwargs.get("dtype"), str):  # JS spells dtypes as strings, Python as vt.float16
        kwargs["dtype"] = getattr(vt, kwargs["dtype"])
    if call.get("seed") is not None:
        vt.manual_seed(call["seed"])
    op = call["op"]
    # The public API first (vt.add), then the method (x.view), then the op table's own namespace (_to_copy).
    if hasattr(vt, op):
        fn = getattr(vt, op)
    elif args and isinstance(args[0], vt.Tensor) and hasattr(args[0], op):
        fn = getattr(args.pop(0), op)
    else:
        fn = getattr(vt._C._ops, op)
    try:
        return encode(fn(*args, **kwargs))
    except Exception as e:  # the test compares the type and message with the JS rejection
        return {"error": {"type": type(e).__name__, "message": str(e)}}


def main():
    spec = json.load(sys.stdin)
    tensors = [decode_tensor(t) for t in spec["tensors"]]
    json.dump({"results": [run(c, tensors) for c in spec["calls"]]}, sys.stdout)


if __name__ == "__main__":
    main()
