"""Runs ``python -m gankit ARGS`` for tests/test_doc_commands.py, each in a forked child.

A fresh ``python -m gankit`` spends about two seconds importing torch and gankit
before it does anything, and the docs hold some eighty commands. This process
imports them once; each command then runs in a child forked from it, with the
command's own working directory, environment (``PYTHONPATH`` entries go onto
``sys.path``, which is what the interpreter does with them at start-up) and
stdout/stderr files, and exits with the command's exit status. What it has
imported reads the environment it was started with: the caller starts it with
the environment every command shares, and nothing that reads a per-command
variable at import time (huggingface_hub, the plugins) is imported here; the
caller runs a command that sets one of the variables read at import time
(``SERVER_ENV`` in test_doc_commands.py) as a plain subprocess instead.

Protocol, one JSON object per line: the caller writes ``{"argv", "cwd", "env",
"stdout", "stderr"}``; this process answers ``{"pid": PID}`` when the child
starts and ``{"rc": STATUS}`` when it has ended (a negative status is the signal
that ended it, as in :mod:`subprocess`). End of input ends the server.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import traceback

import sklearn.datasets  # noqa: F401  (the digits dataset)
import torch  # noqa: F401
import torch._dynamo  # noqa: F401  (every `gankit train` imports it through torch.optim)

import gankit.cli  # noqa: F401
import gankit.training.trainer  # noqa: F401


def _redirect(fd: int, path: str) -> None:
    flags = os.O_RDONLY if fd == 0 else os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    target = os.open(path, flags, 0o644)
    os.dup2(target, fd)
    os.close(target)


def run_child(request: dict) -> int:
    """Run one command in this (forked) process; return its exit status."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    extra = [p for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[0:1] = [os.getcwd(), *extra]  # as `python -m`: the working directory first
    _redirect(0, os.devnull)  # a command reading stdin gets end of input, as under the test
    _redirect(1, request["stdout"])
    _redirect(2, request["stderr"])
    sys.argv = ["gankit", *request["argv"]]
    try:
        runpy.run_module("gankit", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def main() -> None:
    """Serve requests from stdin until it closes."""
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 70  # EX_SOFTWARE, should run_child itself fail
            try:
                code = run_child(request)
            finally:
                os._exit(code)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"rc": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    main()
