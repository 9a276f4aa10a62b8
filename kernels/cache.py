"""Where generated kernel sources live: VIBETENSOR_KERNEL_CACHE, else ~/.cache/vibetensor/kernels."""
import os


def cache_dir():
    return os.environ.get("VIBETENSOR_KERNEL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "vibetensor", "kernels")
