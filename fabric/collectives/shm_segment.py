"""Named shared-memory segments for the CPU transport: files in /dev/shm mapped with mmap.

We map files directly instead of using multiprocessing.shared_memory: before Python 3.13 every attach registers
the segment with a resource tracker that unlinks it (and warns) when *any* attaching process exits, which is
wrong for segments owned by a peer. Every name starts with `vtfab-<uid>-<job>` so that the last rank out, or the
next rendezvous of the same job after a crash, can remove everything a job left behind with one glob.
"""
import contextlib
import fcntl
import glob
import mmap
import os
import re
import tempfile

SHM_DIR = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()


def job_prefix(job):
    """The file-name prefix of everything job `job` creates (sanitised: job ids come from the environment)."""
    return f"vtfab-{os.getuid()}-{re.sub(r'[^A-Za-z0-9_.-]', '_', str(job))}"


def path_of(name):
    return os.path.join(SHM_DIR, name)


class Segment:
    """A mapped file of `size` bytes. `array(dtype)` views it with numpy (zero-copy)."""

    def __init__(self, name, size, create):
        self.name, self.size = name, size
        path = path_of(name)
        if create:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # a stale segment of a crashed run with the same name
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        else:
            fd = os.open(path, os.O_RDWR)
        try:
            if create:
                os.ftruncate(fd, size)
            else:
                self.size = size = os.fstat(fd).st_size
            self.inode = os.fstat(fd).st_ino
            self.map = mmap.mmap(fd, size) if size else None
        finally:
            os.close(fd)

    def array(self, dtype, count=-1, offset=0):
        import numpy as np
        if self.map is None:
            return np.empty(0, dtype)
        return np.frombuffer(self.map, dtype=dtype, count=count, offset=offset)

    def still_named(self):
        """True while the file at our name is the one we mapped (a stale-job cleanup may have replaced it)."""
        try:
            return os.stat(path_of(self.name)).st_ino == self.inode
        except FileNotFoundError:
            return False

    def unlink(self):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path_of(self.name))

    def close(self):
        """Unmaps (numpy views still alive keep the mapping until they go; that is harmless)."""
        m, self.map = self.map, None
        if m is not None:
            with contextlib.suppress(BufferError):
                m.close()


@contextlib.contextmanager
def locked(name):
    """An exclusive flock on /dev/shm/<name> (rendezvous and teardown only, never the hot path). A lock file
    removed by the previous holder is reopened, so every holder locks the file that is named now."""
    path = path_of(name)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        yield
    finally:
        os.close(fd)  # releases the lock


def remove_all(prefix, keep=()):
    """Unlinks every segment whose name starts with `prefix` (a job's leftovers)."""
    for path in glob.glob(path_of(glob.escape(prefix)) + "*"):
        if os.path.basename(path) not in keep:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
