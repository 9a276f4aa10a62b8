"""``torch.backends.cudnn``: vibetensor does not use cuDNN. The flags scripts set (``benchmark``,
``deterministic``, ``enabled``) are plain attributes here, with no effect, as in a CPU-only PyTorch."""


def is_available():
    return False


def version():
    return None


enabled = True
benchmark = False
deterministic = False
allow_tf32 = True
