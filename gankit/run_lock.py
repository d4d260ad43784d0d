"""The lock a ``gankit train`` process holds on its run directory while it writes it.

``RUN_DIR/.gankit.lock`` is locked (filelock: an OS lock, dropped when the
process ends however it ends) by the process training the run. The trainer's
command takes it; commands that read a run (sample, eval, export) only ask
whether it is held, to say "being trained" rather than give advice that the
lock would refuse.
"""

from __future__ import annotations

from pathlib import Path

#: held in the run directory by the process that trains it (the file stays; the lock goes)
LOCK_FILE = ".gankit.lock"


def locked_by_another(run_dir: Path) -> bool:
    """Whether another process holds ``RUN_DIR/.gankit.lock`` (is training the run) now."""
    from filelock import FileLock, Timeout

    if not (run_dir / LOCK_FILE).exists():
        return False
    lock = FileLock(run_dir / LOCK_FILE, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return True
    except OSError:  # cannot even open it: not ours to judge; the real lock reports it
        return False
    lock.release()
    return False
