"""Where generated kernel sources live: VIBETENSOR_KERNEL_CACHE, else ~/.cache/vibetensor/kernels."""
import os

from .. import config


def cache_dir():
    return config.get("VIBETENSOR_KERNEL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "vibetensor", "kernels")
