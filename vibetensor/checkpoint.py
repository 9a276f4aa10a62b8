"""Training checkpoints: a model's and an optimiser's state in one safetensors file, bit-exact.

Tensors are stored under "model.<name>" and "optim.state.<param index>.<key>"; everything else (the
optimiser's parameter groups, non-tensor state, user extras) goes into the file's metadata as JSON.
Files are written atomically (safetensors save_file), so a crash mid-save leaves the previous checkpoint.

>>> import vibetensor as vt, tempfile, os
>>> m = vt.nn.Linear(2, 2); opt = vt.optim.AdamW(m.parameters())
>>> path = os.path.join(tempfile.mkdtemp(), "ckpt.safetensors")
>>> vt.checkpoint.save(path, model=m, optimizer=opt, extra={"step": 3})
>>> vt.checkpoint.load(path, model=m, optimizer=opt)["step"]
3
"""
import json

from . import _C
from .tensor_core.serialization import load_file, read_metadata, save_file


def save(path, model=None, optimizer=None, extra=None):
    tensors, meta = {}, {}
    if model is not None:
        for k, v in model.state_dict().items():
            tensors[f"model.{k}"] = v.contiguous()
    if optimizer is not None:
        sd = optimizer.state_dict()
        scalars = {}
        for idx, st in sd["state"].items():
            for key, v in st.items():
                if isinstance(v, _C.TensorBase):
                    tensors[f"optim.state.{idx}.{key}"] = v.contiguous()
                else:
                    scalars[f"{idx}.{key}"] = v
        meta["optim.param_groups"] = json.dumps(sd["param_groups"])
        meta["optim.scalars"] = json.dumps(scalars)
    if extra is not None:
        meta["extra"] = json.dumps(extra)
    save_file(tensors, path, metadata=meta)


def load(path, model=None, optimizer=None, strict=True):
    """Restores what `save` wrote into `model` and `optimizer`; returns the `extra` dict (or {})."""
    tensors, meta = _load_with_metadata(path)
    if model is not None:
        state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
        model.load_state_dict(state, strict=strict)
    if optimizer is not None:
        if "optim.param_groups" not in meta:
            raise ValueError(f"{path}: no optimizer state in this checkpoint")
        state = {}
        for k, v in tensors.items():
            if k.startswith("optim.state."):
                idx, key = k[len("optim.state."):].split(".", 1)
                state.setdefault(int(idx), {})[key] = v.clone()
        for k, v in json.loads(meta["optim.scalars"]).items():
            idx, key = k.split(".", 1)
            state.setdefault(int(idx), {})[key] = v
        optimizer.load_state_dict({"state": state, "param_groups": json.loads(meta["optim.param_groups"])})
    return json.loads(meta["extra"]) if "extra" in meta else {}


def _load_with_metadata(path):
    return load_file(path), read_metadata(path)
