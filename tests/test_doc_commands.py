"""Run the shell examples of the docs for real, so that they cannot rot.

The rules (change them here, and only here):

What runs
    Every command in a fenced ```bash block of README.md and docs/**/*.md whose
    program is ``gankit`` (or ``.venv/bin/gankit``), including the parts of
    ``a && b`` chains and commands after ``VAR=value`` environment prefixes.
    Backslash continuations are joined; ``#`` comments and anything after a pipe
    or a redirection are dropped; other programs (``python ...``, ``export ...``,
    ``git diff ...``) are not run. Each command runs as ``python -m gankit ...``
    in a process of its own, forked from one that has imported torch and gankit
    already (``tests/doc_fork_server.py``: it saves two seconds or more of imports
    per command; ``gankit serve`` is started as a plain subprocess), with
    ``OMP_NUM_THREADS=1``, the page's own huggingface_hub
    home (``HF_HOME``; the ``HF_*`` variables of the caller are dropped) and the
    page's own copy of the zoo directory (``GANKIT_ZOO_DIR``), so that ``zoo add``
    and ``zoo publish`` never touch ``zoo/gankit_zoo/``. Pages without Hub commands
    run with ``HF_HUB_OFFLINE=1``.

Where
    Each doc file gets its own temporary working directory, and its commands run
    there in the order the file gives them: relative paths (``runs/x``,
    ``grid.png``) land in it, and ``sample`` finds what ``train`` wrote. Absolute
    paths under ``/tmp/`` are moved into it.

Rewrites, for speed only
    In ``train`` commands, ``--steps N`` becomes ``--steps 2`` (``--steps 3``
    with ``--resume``, so that the resume really continues), a new run without
    ``--steps`` gets ``--steps 2``, and tiny overrides are appended where the
    component's config has the field: ``batch_size=8 progress=false``,
    ``arch.g_width=8 arch.d_width=8 arch.mlp_hidden=16 arch.embed_dim=4``,
    ``data.size=16 data.n=256 data.limit=64``. In ``eval`` commands, ``--n N``
    becomes ``--n 200`` (the docs measure with 10,000 samples, minutes on a CPU).
    Nothing else is changed.

Prerequisites are run, not skipped
    A command whose input (the artifact, run or ONNX argument, ``--resume``) does
    not exist yet is preceded by the documented command that writes it: a
    ``train --out`` or ``export --out`` of the same file, else of README.md, else
    of another page; failing that, the stand-in of ``STAND_IN_COMMANDS`` /
    ``STAND_IN_FILES`` (inputs the docs leave to the reader or make with another
    program). A command is run once per page: a prerequisite is not run again
    at its own place. The plugins that a page spells out in
    ``<!-- example: PATH -->`` blocks and tells the reader to install (docs/plugins.md:
    ``my-plugin`` and the snippets) are installed for that page's commands by writing
    them plus a dist-info with their entry points into a directory on ``PYTHONPATH``
    (the environment itself is not touched). Fashion-MNIST comes
    from its usual local files when they are installed, else from tiny synthetic
    IDX files (``data.root=...`` is appended).

The Hub
    A page with Hub commands (``push``, ``pull``, ``zoo pull``, ``zoo publish``,
    ``hf://`` sources) gets its own local Hub, ``tests/hub_server.py``'s FakeHub
    on 127.0.0.1, and its commands talk to it with the real huggingface_hub
    client (``HF_ENDPOINT``, ``HF_TOKEN`` = the FakeHub's write token; the docs'
    ``export HF_TOKEN=hf_...`` is not run). The docs' placeholders are replaced
    as ``PLACEHOLDERS`` says. What a Hub command needs is made first, by the
    documented commands that make it: the ``push`` to the repository (to the
    branch: a ``pull OWNER/NAME@v2`` gets the documented push plus
    ``--revision v2``) before a pull, and the ``zoo publish`` of the entry before
    a ``zoo pull``. The answers are checked against the FakeHub: ``push``
    prints the head commit of its branch, ``pull`` prints a snapshot of the
    expected commit in the page's cache, ``zoo publish`` writes the commits into
    the page's catalogue copy, and the repository's catalogue is left unchanged.

Skips, each with its reason, and only these
    ``gankit export`` without the ``onnx`` extra, ``gankit serve`` without the
    ``serve`` extra, ``gankit plot`` without the ``plot`` extra; the planned
    commands ``push``, ``pull`` and ``zoo`` while this installation does not
    have them; and commands that need the output of a skipped command. A page
    whose commands are all skipped is reported as skipped; otherwise its skips
    are listed in a warning.

Repeats
    A command that an earlier page already ran with the same (rewritten) arguments
    and environment is not run again: a read-only one (``plugins``, ``list``,
    ``info``, ``--help``) is taken as passed, and a new ``train`` run's directory
    is copied from the earlier page. Every distinct command still runs for real.

``gankit serve``
    Runs for real on a free local port until ``GET /healthz`` answers 200, and is
    then stopped with SIGINT (a graceful shutdown); it must exit within 60 s.
"""

from __future__ import annotations

import atexit
import gzip
import importlib.util
import json
import os
import queue
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

from gankit.hub import CATALOGUE_NAME, ZooEntry, load_catalogue

from hub_server import WRITE_TOKEN, FakeHub

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```bash[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
EXAMPLE = re.compile(r"^<!-- example: (\S+) -->\n```[\w-]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
GANKIT_PROGRAMS = ("gankit", ".venv/bin/gankit")
#: global options of ``gankit`` that take a value
GLOBAL_VALUE_OPTIONS = {"--disable-plugin"}
TRAIN_OPTIONS = ["batch_size=8", "progress=false"]
ARCH_OPTIONS = {"g_width": 8, "d_width": 8, "mlp_hidden": 16, "embed_dim": 4}
DATA_OPTIONS = {"size": 16, "n": 256, "limit": 64}
EXTRAS = {
    "onnx": ("onnx", "onnxscript", "onnxruntime"),
    "serve": ("onnxruntime", "starlette", "uvicorn", "prometheus_client"),
    "plot": ("matplotlib",),
}
PLANNED = {"push", "pull", "zoo"}  # commands documented ahead of some installations
HUB_COMMANDS = {("push",), ("pull",), ("zoo", "pull"), ("zoo", "publish")}
ZOO = ROOT / "zoo" / "gankit_zoo"
#: The placeholders of the docs (docs/zoo.md) and what replaces them in every argument;
#: ``<...>`` values are filled in when the command runs.
PLACEHOLDERS = {
    # the reader's Hub repository: any valid id will do on the local Hub, where the
    # page's own `gankit push --repo OWNER/NAME` creates it
    "OWNER/NAME": "doc-owner/doc-model",
    # an elided commit sha (`pull OWNER/NAME@3f2a9c1...`): the full sha of main that
    # the page's `gankit push` to that repository printed
    "3f2a9c1...": "<commit of main>",
    # a private Hub's URL (`zoo publish --endpoint`): the local Hub's
    "https://hub.example.org": "<endpoint>",
}
#: Inputs that the docs leave to the reader, made when no documented command writes
#: them: path -> the gankit command that makes a (tiny) one.
STAND_IN_COMMANDS: dict[str, str] = {
    # none at present: docs/zoo.md's `zoo add ... runs/progan/artifact` reads the run
    # that docs/tutorials/progan.md trains
}
#: Inputs that the docs make with another program: path -> the stand-in's contents.
STAND_IN_FILES: dict[str, str] = {
    # none at present: docs/zoo.md's `zoo add --metrics /tmp/metrics.json` reads what
    # the page's `gankit eval ... --json /tmp/metrics.json` writes
}
COMMAND_TIMEOUT = 300
READ_ONLY = {"", "plugins", "list", "info"}
#: (argv, doc env, example site present) -> working directory of the page that ran it
_ALREADY_RAN: dict[tuple[tuple[str, ...], tuple[tuple[str, str], ...], bool], Path] = {}


@dataclass
class DocCommand:
    """One ``gankit`` command found in a doc file."""

    argv: list[str]  # the arguments after ``gankit``
    env: dict[str, str]
    where: str  # FILE:LINE
    text: str  # the command as written

    @property
    def words(self) -> list[str]:
        """The (sub)command words: ``["train"]``, ``["zoo", "pull"]``."""
        i = 0
        while i < len(self.argv) and self.argv[i].startswith("-"):
            i += 2 if self.argv[i] in GLOBAL_VALUE_OPTIONS else 1
        rest = self.argv[i:]
        words = rest[:1]
        if words == ["zoo"] and len(rest) > 1:
            words.append(rest[1])
        return words

    @property
    def name(self) -> str:
        return self.words[0] if self.words else ""

    def option(self, flag: str) -> str | None:
        for i, word in enumerate(self.argv[:-1]):
            if word == flag:
                return self.argv[i + 1]
        for word in self.argv:
            if word.startswith(flag + "="):
                return word.split("=", 1)[1]
        return None

    def positionals(self) -> list[str]:
        """The arguments after the (sub)command words, up to the first option."""
        words = self.words
        if not words:
            return []
        out = []
        for word in self.argv[self.argv.index(words[-1]) + 1 :]:
            if word.startswith("-"):
                break
            out.append(word)
        return out

    def positional(self) -> str | None:
        """The first argument after the (sub)command words, if it is not an option."""
        return next(iter(self.positionals()), None)

    def inputs(self) -> list[str]:
        """Paths this command reads and that an earlier command must have written."""
        if self.name == "train":
            return [p for p in (self.option("--resume"),) if p]
        if self.name in ("sample", "interpolate", "eval", "export", "serve", "push", "plot"):
            source = self.positional()
            if source and not source.startswith(("zoo:", "hf://")):
                return [source]
        if self.words == ["zoo", "add"]:
            return [*self.positionals()[1:2], *filter(None, [self.option("--metrics")])]
        return []

    def hub_spec(self) -> str | None:
        """The ``OWNER/NAME[@REV]`` that this command downloads from the Hub, if any."""
        source = self.positional() or ""
        if self.name == "pull" or source.startswith("hf://"):
            return source.removeprefix("hf://")
        return None

    def needs_hub(self) -> bool:
        return tuple(self.words) in HUB_COMMANDS or self.hub_spec() is not None

    def outputs(self) -> list[str]:
        """Paths this command writes that other commands may read."""
        if self.name == "train" and self.option("--resume") is None:
            return [p for p in (self.option("--out"),) if p]
        if self.name == "export":
            return [self.option("--out") or self.option("-o") or "generator.onnx"]
        if self.name == "eval":
            return [p for p in (self.option("--json"),) if p]
        return []


@dataclass
class Page:
    path: Path
    commands: list[DocCommand] = field(default_factory=list)

    @property
    def rel(self) -> str:
        return self.path.relative_to(ROOT).as_posix()


def split_chain(line: str) -> list[str]:
    """``a && b ; c`` -> ``[a, b, c]``, dropping what follows a pipe or redirection."""
    parts = re.split(r"\s*(?:&&|;|\|\|)\s*", line)
    return [re.split(r"\s+(?:\||>|>>|2>|<)\s*", part, maxsplit=1)[0].strip() for part in parts]


def parse_page(path: Path) -> Page:
    page = Page(path)
    text = path.read_text(encoding="utf-8")
    for block in FENCE.finditer(text):
        first_line = text.count("\n", 0, block.start(1)) + 1
        lines = block.group(1).splitlines()
        i = 0
        while i < len(lines):
            lineno = first_line + i
            line = lines[i]
            while line.rstrip().endswith("\\") and i + 1 < len(lines):
                i += 1
                line = line.rstrip()[:-1] + " " + lines[i].strip()
            i += 1
            for part in split_chain(line):
                try:
                    words = shlex.split(part, comments=True)
                except ValueError:
                    continue
                env: dict[str, str] = {}
                while words and ENV_ASSIGNMENT.match(words[0]):
                    key, value = words.pop(0).split("=", 1)
                    env[key] = value
                if not words:
                    continue
                where = f"{page.rel}:{lineno}"
                if words[0] in GANKIT_PROGRAMS:
                    page.commands.append(DocCommand(words[1:], env, where, part))
    return page


PAGES = [parse_page(p) for p in DOC_FILES]


# -- environment ----------------------------------------------------------------


@cache
def has_extra(extra: str) -> str | None:
    """None if the extra is installed, else the missing module."""
    for module in EXTRAS[extra]:
        if importlib.util.find_spec(module) is None:
            return module
    return None


@cache
def cli_commands() -> set[str]:
    import typer.main

    from gankit.cli import app

    return set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


@cache
def config_fields(kind: str, name: str) -> frozenset[str]:
    """Field names of a component's config; empty if this process does not know it."""
    import dataclasses

    from gankit.errors import GankitError
    from gankit.registry import get_component

    try:
        comp = get_component(kind, name)
    except GankitError:
        return frozenset()
    return frozenset(f.name for f in dataclasses.fields(comp.config))


def fashion_mnist_root(tmp: Path) -> Path | None:
    """None when the real files are installed, else a directory of tiny synthetic ones."""
    try:
        from gankit_datasets.fashion_mnist import DEFAULT_ROOT, find_split_files

        find_split_files(DEFAULT_ROOT, "train")
        return None
    except Exception:
        pass
    root = tmp / "fashion-mnist"
    if not root.exists():
        root.mkdir()
        n = 64
        pixels = bytes((7 * i + 13 * (i // 784)) % 256 for i in range(n * 28 * 28))
        labels = bytes(i % 10 for i in range(n))
        for prefix in ("train", "t10k"):
            (root / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
                gzip.compress(struct.pack(">IIII", 0x803, n, 28, 28) + pixels)
            )
            (root / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(
                gzip.compress(struct.pack(">II", 0x801, n) + labels)
            )
    return root


def write_dist_info(site: Path, name: str, version: str, entry_points: dict[str, str]) -> None:
    dist_info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir(parents=True, exist_ok=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    )
    lines = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    (dist_info / "entry_points.txt").write_text(f"[gankit]\n{lines}")


def install_examples(page: Page, site: Path) -> None:
    """Install the plugins a page spells out, as ``pip install`` would, without pip.

    ``DIR/pyproject.toml`` + ``DIR/...`` blocks are a package (its modules, not its
    tests, plus a dist-info with its entry points); any other ``.py`` block is a
    single-module plugin, registered under the entry-point name ``doc-snippet-NAME``.
    """
    examples = dict(EXAMPLE.findall(page.path.read_text(encoding="utf-8")))
    packages = {p.split("/", 1)[0] for p in examples if p.endswith("/pyproject.toml")}
    for package in sorted(packages):
        project = tomllib.loads(examples[f"{package}/pyproject.toml"])["project"]
        for path, code in examples.items():
            top, _, rel = path.partition("/")
            if top == package and rel.endswith(".py") and not rel.startswith("tests/"):
                (site / rel).parent.mkdir(parents=True, exist_ok=True)
                (site / rel).write_text(code)
        eps = project.get("entry-points", {}).get("gankit", {})
        write_dist_info(site, project["name"], project["version"], eps)
    snippets: dict[str, str] = {}
    for path, code in examples.items():
        if path.endswith(".py") and path.split("/", 1)[0] not in packages:
            stem = Path(path).stem
            site.mkdir(parents=True, exist_ok=True)
            (site / f"gankit_doc_snippet_{stem}.py").write_text(code)
            snippets[f"doc-snippet-{stem.replace('_', '-')}"] = f"gankit_doc_snippet_{stem}"
    if snippets:
        write_dist_info(site, "gankit-doc-snippets", "0.0.0", snippets)


# -- rewriting -------------------------------------------------------------------


def move_tmp_paths(argv: list[str], tmp: Path) -> list[str]:
    out = []
    for word in argv:
        key, sep, value = word.partition("=")
        if word.startswith("/tmp/"):
            word = str(tmp / word.lstrip("/"))
        elif sep and value.startswith("/tmp/") and not key.startswith("-"):
            word = f"{key}={tmp / value.lstrip('/')}"
        out.append(word)
    return out


EVAL_N = "200"


def rewrite_eval(argv: list[str]) -> list[str]:
    """``gankit eval ... --n N`` with a small N (the metrics' own default is 10,000)."""
    out: list[str] = []
    it = iter(argv)
    for word in it:
        if word == "--n":
            next(it, None)
            out += ["--n", EVAL_N]
        elif word.startswith("--n="):
            out.append(f"--n={EVAL_N}")
        else:
            out.append(word)
    if "--n" not in out and not any(w.startswith("--n=") for w in out):
        out += ["--n", EVAL_N]
    return out


def rewrite_train(argv: list[str], tmp: Path) -> list[str]:
    resume = "--resume" in argv or any(a.startswith("--resume=") for a in argv)
    steps = "3" if resume else "2"
    out: list[str] = []
    it = iter(argv)
    has_steps = False
    for word in it:
        if word == "--steps":
            next(it, None)
            out += ["--steps", steps]
            has_steps = True
        elif word.startswith("--steps="):
            out.append(f"--steps={steps}")
            has_steps = True
        else:
            out.append(word)
    if resume:
        return out
    if not has_steps:
        out += ["--steps", steps]
    cmd = DocCommand(out, {}, "", "")
    arch, data = cmd.option("--arch") or "dcgan", cmd.option("--data") or "digits"
    extra = list(TRAIN_OPTIONS)
    arch_fields = config_fields("architecture", arch)
    extra += [f"arch.{k}={v}" for k, v in ARCH_OPTIONS.items() if k in arch_fields]
    data_fields = config_fields("dataset", data)
    extra += [f"data.{k}={v}" for k, v in DATA_OPTIONS.items() if k in data_fields]
    if data == "fashion-mnist" and (root := fashion_mnist_root(tmp)) is not None:
        extra.append(f"data.root={root}")
    keys = {e.split("=", 1)[0] for e in extra}
    out = [w for w in out if w.split("=", 1)[0].removeprefix("train.") not in keys]
    return out + extra


# -- running ---------------------------------------------------------------------


class Skipped(Exception):
    pass


def skip_reason(cmd: DocCommand) -> str | None:
    if cmd.name in PLANNED and cmd.name not in cli_commands():
        return f"`gankit {cmd.name}` is not in this installation yet"
    if cmd.name == "export" and (missing := has_extra("onnx")):
        return f"the onnx extra is not installed ({missing} is missing)"
    if cmd.name == "serve" and (missing := has_extra("serve")):
        return f"the serve extra is not installed ({missing} is missing)"
    if cmd.name == "plot" and (missing := has_extra("plot")):
        return f"the plot extra is not installed ({missing} is missing)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: variables the fork server's imports read when they are imported (torch's thread
#: count, rich's console): a command that sets one runs in a fresh interpreter
SERVER_ENV = {"OMP_NUM_THREADS", "MKL_NUM_THREADS", "COLUMNS", "NO_COLOR", "FORCE_COLOR", "TERM"}


class ForkServer:
    """tests/doc_fork_server.py, running: each command in a child forked from it.

    Started on first use with the environment every command shares (``OMP_NUM_THREADS=1``,
    ``NO_COLOR=1``, no ``HF_*``); each command adds its page's environment.
    """

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.replies: queue.Queue[dict[str, int]] = queue.Queue()
        self.outputs = Path(tempfile.mkdtemp(prefix="gankit-doc-commands-"))
        self.count = 0

    def _start(self) -> subprocess.Popen[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
        env.pop("GANKIT_DISABLE_PLUGINS", None)
        env.update(OMP_NUM_THREADS="1", NO_COLOR="1")
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("doc_fork_server.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=(self.outputs / "server.err").open("w"),
            text=True,
            env=env,
            cwd=self.outputs,
        )
        stdout = proc.stdout
        assert stdout is not None

        def read() -> None:
            for line in stdout:
                self.replies.put(json.loads(line))

        threading.Thread(target=read, daemon=True).start()
        atexit.register(self.stop)
        return proc

    def _reply(self, key: str, timeout: float) -> int:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.replies.get(timeout=min(5.0, max(0.1, deadline - time.monotonic())))[
                    key
                ]
            except queue.Empty:
                if self.proc.poll() is not None:
                    err = (self.outputs / "server.err").read_text()[-3000:]
                    raise AssertionError(f"the doc command server died:\n{err}") from None
                if time.monotonic() > deadline:
                    raise TimeoutError from None

    def run(self, argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
        """Run ``gankit ARGV`` in ``cwd`` with ``env``: (exit status, stdout, stderr)."""
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self._start()
        assert self.proc.stdin is not None
        self.count += 1
        out, err = self.outputs / f"{self.count}.out", self.outputs / f"{self.count}.err"
        request = {"argv": argv, "cwd": str(cwd), "env": env, "stdout": str(out)}
        self.proc.stdin.write(json.dumps({**request, "stderr": str(err)}) + "\n")
        self.proc.stdin.flush()
        pid = self._reply("pid", 60)
        try:
            code = self._reply("rc", COMMAND_TIMEOUT)
        except TimeoutError:
            os.kill(pid, signal.SIGKILL)
            self._reply("rc", 60)
            raise AssertionError(
                f"gankit {shlex.join(argv)} ran over {COMMAND_TIMEOUT} s"
            ) from None
        return code, out.read_text(), err.read_text()

    def stop(self) -> None:
        """End the server (end of its input) and remove the command outputs."""
        if self.proc is not None and self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.outputs, ignore_errors=True)


@cache
def fork_server() -> ForkServer:
    """The session's one :class:`ForkServer`."""
    return ForkServer()


class PageRunner:
    def __init__(self, page: Page, tmp: Path) -> None:
        self.page = page
        self.tmp = tmp
        self.site = tmp / "_site"
        self.zoo = tmp / "_zoo"  # the page's copy of zoo/gankit_zoo (GANKIT_ZOO_DIR)
        self.hf_home = tmp / "_hf-home"
        self.hub: FakeHub | None = None  # the page's local Hub, started by its first Hub command
        self.skipped: list[str] = []
        self.ran = 0
        self.skipped_outputs: set[str] = set()
        self.active: set[str] = set()
        self.done: set[int] = set()  # id() of the commands run (or skipped) on this page
        self.pushed: dict[tuple[str, str], str] = {}  # (repo, branch) -> the sha push printed
        self.published: set[str] = set()  # zoo entries that `zoo publish` pushed to self.hub

    def env(self, cmd: DocCommand) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
        env.pop("GANKIT_DISABLE_PLUGINS", None)
        env.update(
            OMP_NUM_THREADS="1",
            NO_COLOR="1",
            GANKIT_ZOO_DIR=str(self.zoo),
            HF_HOME=str(self.hf_home),
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_HUB_DISABLE_PROGRESS_BARS="1",
        )
        if self.hub is None:
            env["HF_HUB_OFFLINE"] = "1"
        else:
            env.update(HF_ENDPOINT=self.hub.url, HF_TOKEN=WRITE_TOKEN)
        if self.site.exists():
            env["PYTHONPATH"] = os.pathsep.join(
                [str(self.site), *filter(None, [os.environ.get("PYTHONPATH")])]
            )
        env.update(cmd.env)
        return env

    def documented(self) -> Iterator[DocCommand]:
        """Every documented command, this page's first."""
        for page in [self.page] + [p for p in PAGES if p.path != self.page.path]:
            yield from page.commands

    def producer(self, path: str) -> DocCommand | None:
        for cmd in self.documented():
            for out in cmd.outputs():
                if path == out or path.startswith(out.rstrip("/") + "/"):
                    return cmd
        for key, command in STAND_IN_COMMANDS.items():
            if path == key or path.startswith(key + "/"):
                return DocCommand(shlex.split(command), {}, f"stand-in for {key}", command)
        return None

    def ensure_inputs(self, cmd: DocCommand) -> None:
        for path in cmd.inputs():
            local = move_tmp_paths([path], self.tmp)[0]
            if (self.tmp / local).exists():
                continue
            if any(path == o or path.startswith(o + "/") for o in self.skipped_outputs):
                raise Skipped(f"needs {path}, the output of a skipped command")
            prereq = self.producer(path)
            if prereq is None and path in STAND_IN_FILES:
                (self.tmp / local).parent.mkdir(parents=True, exist_ok=True)
                (self.tmp / local).write_text(STAND_IN_FILES[path])
                continue
            assert prereq is not None, (
                f"{cmd.where}: `{cmd.text}` needs {path}, which no documented command writes"
            )
            self.run_prerequisite(prereq, cmd)

    def run_prerequisite(self, prereq: DocCommand, cmd: DocCommand, how: str = "") -> None:
        assert prereq.where not in self.active, f"prerequisite loop at {prereq.where}"
        self.active.add(prereq.where)
        try:
            self.run(prereq, why=f"{how}prerequisite of {cmd.where}")
        finally:
            self.active.discard(prereq.where)

    # -- the local Hub (see The Hub above) --

    def local_hub(self) -> FakeHub:
        if self.hub is None:
            self.hub = FakeHub(self.tmp / "_hub")
            self.hub.serve()
        return self.hub

    def catalogue(self) -> dict[str, ZooEntry]:
        return load_catalogue(self.zoo / CATALOGUE_NAME)

    def substitute(self, word: str) -> str:
        """Replace the docs' placeholders in one argument (see PLACEHOLDERS)."""
        for placeholder, value in PLACEHOLDERS.items():
            if placeholder not in word:
                continue
            if value == "<endpoint>":
                value = self.local_hub().url
            elif value == "<commit of main>":
                repo = word.removeprefix("hf://").split("@")[0]
                value = self.pushed[(repo, "main")]
            word = word.replace(placeholder, value)
        return word

    def ensure_hub_state(self, cmd: DocCommand) -> None:
        """Push what a download needs first: its repository and branch, or its zoo entry."""
        if (spec := cmd.hub_spec()) is not None:
            repo, _, rev = spec.partition("@")
            branch = rev if rev and PLACEHOLDERS.get(rev) != "<commit of main>" else "main"
            if (self.substitute(repo), branch) not in self.pushed:
                prereq, how = self.push_producer(repo, branch, cmd)
                self.run_prerequisite(prereq, cmd, how)
                if (self.substitute(repo), branch) not in self.pushed:
                    raise Skipped(f"needs {repo}@{branch}, which a skipped command pushes")
        elif cmd.words == ["zoo", "pull"] and (name := cmd.positional()) not in self.published:
            publishes = [c for c in self.documented() if c.words == ["zoo", "publish"]]
            prereq = next((c for c in publishes if name in c.positionals()), None)
            prereq = prereq or next((c for c in publishes if not c.positionals()), None)
            assert prereq is not None, f"{cmd.where}: no documented `zoo publish` publishes {name}"
            self.run_prerequisite(prereq, cmd)
            if name not in self.published:
                raise Skipped(f"needs zoo entry {name} published, by a skipped command")

    def push_producer(self, repo: str, branch: str, cmd: DocCommand) -> tuple[DocCommand, str]:
        """The documented push to ``repo`` on ``branch``, else its push to main + ``--revision``."""
        pushes = [c for c in self.documented() if c.name == "push" and c.option("--repo") == repo]
        for push in pushes:
            if (push.option("--revision") or "main") == branch:
                return push, ""
        base = next((c for c in pushes if c.option("--revision") is None), None)
        assert base is not None, f"{cmd.where}: no documented `gankit push` pushes {repo}"
        derived = DocCommand([*base.argv, "--revision", branch], base.env, base.where, base.text)
        return derived, f"with --revision {branch}, "

    def check_hub_answer(self, cmd: DocCommand, argv: list[str], stdout: str, label: str) -> None:
        """Check what a Hub or zoo command printed and did against the local Hub."""
        hub = self.local_hub()
        ran = DocCommand(argv, {}, "", "")
        lines = stdout.strip().splitlines() or [""]
        where = f"{label}\nprinted:\n{stdout}"
        if cmd.name == "push":  # prints the commit sha, the head of the branch
            repo, branch = ran.option("--repo") or "", ran.option("--revision") or "main"
            head = hub.repos[repo].branches[branch]
            assert lines[-1] == head, f"{where}\nbut {repo}@{branch} is {head}"
            self.pushed[(repo, branch)] = head
        elif cmd.words in (["pull"], ["zoo", "pull"]):  # prints a snapshot in the page's cache
            if cmd.name == "pull":
                repo, _, rev = (ran.positional() or "").partition("@")
                commits = hub.repos[repo].commits
                commit = hub.repos[repo].branches.get(rev or "main") or next(
                    c for c in commits if c.startswith(rev)
                )
            else:
                commit = self.catalogue()[ran.positional() or ""].revision
            folder = Path(lines[-1])
            assert folder.is_relative_to(self.hf_home), f"{where}\nnot in {self.hf_home}"
            assert folder.name == commit, f"{where}\nnot a snapshot of commit {commit}"
            assert (folder / "model.safetensors").is_file(), f"{where}\nno model.safetensors"
        elif cmd.words == ["zoo", "publish"]:  # the commits are written into the catalogue copy
            entries = self.catalogue()
            for name in ran.positionals() or entries:
                entry = entries[name]
                head = hub.repos[entry.repo_id].branches["main"]
                assert entry.revision == head, f"{where}\n{name}: {entry.revision!r} != {head}"
                assert f"{name}: {head}" in lines, f"{where}\nno `{name}: {head}` line"
                self.published.add(name)
            assert lines[-1] == f"revisions written to {self.zoo / CATALOGUE_NAME}", where
        elif cmd.words == ["zoo", "add"]:
            assert ran.positional() in self.catalogue(), f"{where}\nnot in {self.zoo}"

    def run(self, cmd: DocCommand, why: str = "") -> None:
        self.done.add(id(cmd))
        label = f"{cmd.where}{f' ({why})' if why else ''}: gankit {' '.join(cmd.argv)}"
        try:
            if reason := skip_reason(cmd):
                raise Skipped(reason)
            self.ensure_inputs(cmd)
            if cmd.needs_hub():
                self.local_hub()
                self.ensure_hub_state(cmd)
        except Skipped as exc:
            self.skipped.append(f"{label}: {exc}")
            self.skipped_outputs.update(cmd.outputs())
            return
        argv = [self.substitute(word) for word in move_tmp_paths(cmd.argv, self.tmp)]
        if cmd.name == "train":
            argv = rewrite_train(argv, self.tmp)
        elif cmd.name == "eval":
            argv = rewrite_eval(argv)
        key = (tuple(argv), tuple(sorted(cmd.env.items())), self.site.exists())
        if self.repeat(key, cmd, argv):
            self.ran += 1
            return
        full = [sys.executable, "-m", "gankit", *argv]
        if cmd.name == "serve":
            self.serve(full, cmd, label)
        else:
            if SERVER_ENV & set(cmd.env):  # read at import time: a fresh interpreter
                proc = subprocess.run(
                    full,
                    cwd=self.tmp,
                    env=self.env(cmd),
                    capture_output=True,
                    text=True,
                    timeout=COMMAND_TIMEOUT,
                )
                code, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
            else:
                code, stdout, stderr = fork_server().run(argv, self.tmp, self.env(cmd))
            output = (stdout + stderr)[-3000:]
            ran = f"gankit {shlex.join(argv)}"
            assert code == 0, f"{label}\nran {ran}\nexit {code}:\n{output}"
            if cmd.needs_hub() or cmd.words == ["zoo", "add"]:
                self.check_hub_answer(cmd, argv, stdout, f"{label}\nran {ran}")
        self.ran += 1
        _ALREADY_RAN.setdefault(key, self.tmp)

    def repeat(self, key: tuple, cmd: DocCommand, argv: list[str]) -> bool:
        """True if an earlier page ran this command already (see Repeats above)."""
        earlier = _ALREADY_RAN.get(key)
        if earlier is None or earlier == self.tmp:
            return False
        if cmd.name in READ_ONLY or "--help" in argv:
            return True
        out = cmd.option("--out")
        if cmd.name == "train" and cmd.option("--resume") is None and out:
            if Path(out).is_absolute() or (self.tmp / out).exists():
                return False
            if not (earlier / out / "artifact").exists():
                return False
            shutil.copytree(earlier / out, self.tmp / out)
            return True
        return False

    def serve(self, full: list[str], cmd: DocCommand, label: str) -> None:
        port = free_port()
        argv = list(full)
        if "--port" in argv:
            argv[argv.index("--port") + 1] = str(port)
        else:
            argv += ["--port", str(port)]
        if "--host" in argv:
            argv[argv.index("--host") + 1] = "127.0.0.1"
        proc = subprocess.Popen(
            argv,
            cwd=self.tmp,
            env=self.env(cmd),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            status = None
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    with urllib.request.urlopen(
                        f"http://127.0.0.1:{port}/healthz", timeout=2
                    ) as response:
                        status = response.status
                        break
                except OSError:
                    time.sleep(0.25)
            assert status == 200, f"{label}\n/healthz never answered 200 (exit {proc.poll()})"
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            try:
                out, _ = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
                pytest.fail(f"{label}\ndid not stop within 60 s of SIGINT:\n{out[-3000:]}")

    def run_page(self) -> None:
        install_examples(self.page, self.site)
        shutil.copytree(ZOO, self.zoo, ignore=shutil.ignore_patterns("__pycache__"))
        real_catalogue = (ZOO / CATALOGUE_NAME).read_bytes()
        try:
            for cmd in self.page.commands:
                if id(cmd) not in self.done:  # not already run as a prerequisite
                    self.run(cmd)
        finally:
            if self.hub is not None:
                self.hub.stop()
        assert (ZOO / CATALOGUE_NAME).read_bytes() == real_catalogue, (
            f"a command of {self.page.rel} changed the repository's zoo catalogue"
        )


# -- tests -------------------------------------------------------------------------


def test_the_quick_start_is_extracted() -> None:
    readme = next(p for p in PAGES if p.rel == "README.md")
    names = [c.name for c in readme.commands]
    assert names[:2] == ["train", "sample"], readme.commands[:2]
    assert readme.commands[0].option("--out") == "runs/digits"
    assert sum(len(p.commands) for p in PAGES) >= 20


def test_rewrites_touch_only_what_makes_it_fast(tmp_path: Path) -> None:
    argv = ["train", "--arch", "dcgan", "--data", "digits", "--steps", "1500", "--out", "r"]
    out = rewrite_train(argv, tmp_path)
    assert out[:9] == ["train", "--arch", "dcgan", "--data", "digits", "--steps", "2", "--out", "r"]
    assert {"batch_size=8", "arch.g_width=8", "arch.d_width=8", "data.size=16"} <= set(out)
    assert "arch.mlp_hidden=16" not in out  # dcgan has no such field
    resume = rewrite_train(["train", "--resume", "r", "--steps", "3000"], tmp_path)
    assert resume == ["train", "--resume", "r", "--steps", "3"]
    assert move_tmp_paths(["--out", "/tmp/x"], tmp_path) == ["--out", str(tmp_path / "tmp/x")]
    evaluate = ["eval", "zoo:x", "--metrics", "fd", "--n", "10000", "--json", "o.json"]
    assert rewrite_eval(evaluate) == [*evaluate[:5], "200", "--json", "o.json"]
    assert rewrite_eval(["eval", "runs/x"]) == ["eval", "runs/x", "--n", "200"]


def test_hub_commands_are_run_and_their_tables_are_used() -> None:
    """The Hub and zoo commands are not skipped, and each placeholder and stand-in is needed."""
    commands = [c for p in PAGES for c in p.commands]
    hub_commands = [c for c in commands if c.needs_hub() or c.words == ["zoo", "add"]]
    assert len(hub_commands) >= 9, [c.where for c in hub_commands]
    assert [c.where for c in hub_commands if skip_reason(c)] == []
    texts = [" ".join(c.argv) for c in commands]
    for placeholder in PLACEHOLDERS:
        assert any(placeholder in text for text in texts), f"no doc command has {placeholder}"
    inputs = [path for c in commands for path in c.inputs()]
    for path in [*STAND_IN_COMMANDS, *STAND_IN_FILES]:
        assert any(i == path or i.startswith(path + "/") for i in inputs), f"nothing reads {path}"
        assert all(c.outputs() != [path] for c in commands), f"a doc command writes {path}"


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in PAGES if p.commands], ids=lambda p: p.rel)
def test_doc_commands_run(page: Page, tmp_path: Path) -> None:
    runner = PageRunner(page, tmp_path)
    runner.run_page()
    if runner.skipped and not runner.ran:
        pytest.skip("every command skipped:\n" + "\n".join(runner.skipped))
    if runner.skipped:
        warnings.warn(
            f"{page.rel}: {len(runner.skipped)} command(s) skipped:\n" + "\n".join(runner.skipped),
            stacklevel=1,
        )
