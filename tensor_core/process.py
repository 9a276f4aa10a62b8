"""Whether a process still runs, for whoever must clean up after one that was killed (shared-memory
segments of the fabric, temporaries of a checkpoint writer)."""
import os


def process_identity(pid=None):
    """(pid, start time in clock ticks): a pid alone may be reused by an unrelated process after a crash."""
    pid = os.getpid() if pid is None else pid
    st = _stat(pid)
    return pid, (st[1] if st else 0)


def _stat(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = data[data.rindex(b")") + 2:].split()  # the command name may hold spaces and ')'
    return fields[0].decode(), int(fields[19])


def is_alive(pid, start):
    """False for an exited process, a zombie (killed but not yet reaped by its parent) or a reused pid."""
    if pid <= 0:
        return False
    if not os.path.isdir("/proc"):  # non-Linux: signal 0 is all we have
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X", "x") and (start == 0 or st[1] == start)
