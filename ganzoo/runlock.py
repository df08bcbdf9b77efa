"""One training process per run folder: an exclusive lock held for the life of the run.

    with RunLock(model_dir):       # raises RunLockedError at once if another process holds it
        ...train...

The lock is `<model_dir>/ganzoo-run.lock`, locked with `fcntl.flock` (POSIX) or
`msvcrt.locking` (Windows). The operating system releases it when the process ends, however it
ends (SIGKILL included), so a lock left by a killed run is never mistaken for a live one: the next
run simply acquires it. The file holds the holder's pid, host and start time, shown in the
refusal. A normal release deletes the file (under the lock; acquirers check that the file they
locked is still the one at the path, so a deleted file is never "locked" by two processes).

It is advisory: it protects run folders from ganzoo processes that take it (`ganzoo train`).
"""
import json
import os
import socket
import time

LOCK_NAME = "ganzoo-run.lock"

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt


class RunLockedError(RuntimeError):
    """Another process holds the run folder's lock; the message names it and what to do."""


def _try_lock(fd):
    """True when the lock was taken, False when another process holds it."""
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:  # EWOULDBLOCK / EAGAIN (POSIX), EACCES / EDEADLOCK (Windows)
        return False
    return True


def _read_holder(path):
    try:
        with open(path, encoding="utf-8") as handle:
            info = json.loads(handle.read() or "{}")
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and "pid" in info else None


def _holder(path, wait=2.0):
    """Who holds the lock, for the refusal. The holder writes its pid just after it locks, so a
    refused process that comes in between finds the file empty: it waits briefly for the pid."""
    deadline = time.monotonic() + wait
    info = _read_holder(path)
    while info is None and time.monotonic() < deadline:
        time.sleep(0.02)
        info = _read_holder(path)
    if info is None:
        return "another process"
    started = info.get("started")
    since = time.strftime(" since %Y-%m-%d %H:%M:%S", time.localtime(started)) if started else ""
    return f"process {info['pid']} on {info.get('host', '?')}{since}"


class RunLock:
    """The lock of one run folder; `acquire()` creates the folder if it does not exist."""

    def __init__(self, directory):
        self.directory = os.fspath(directory)
        self.path = os.path.join(self.directory, LOCK_NAME)
        self._fd = None

    @property
    def held(self):
        return self._fd is not None

    def acquire(self, what="train"):
        if self._fd is not None:
            return self
        os.makedirs(self.directory, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            if not _try_lock(fd):
                os.close(fd)
                raise RunLockedError(
                    f"{self.directory} is in use by {_holder(self.path)} (it holds "
                    f"{self.path}). Only one process may {what} in a run folder at a time; nothing "
                    "was changed. Wait for that run to end (or stop it) and then resume with "
                    "--resume, or choose another --model_dir."
                )
            try:  # the holder before us may have deleted the file between our open and lock
                current = os.stat(self.path)
            except FileNotFoundError:
                current = None
            if current is not None and os.path.samestat(os.fstat(fd), current):
                break
            os.close(fd)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(info).encode("utf-8"))
        self._fd = fd
        return self

    def release(self):
        """Delete the lock file and release the lock (idempotent)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if fcntl is not None:  # Windows cannot delete an open file; the file then stays
                os.remove(self.path)
        except OSError:
            pass
        finally:
            os.close(fd)  # releases the lock

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False
