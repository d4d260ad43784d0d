"""``gankit export`` and ``gankit serve``.

onnx, onnxruntime, starlette and uvicorn are imported inside the commands, so
``gankit --help`` works without the ``onnx``/``serve`` extras; a missing extra
is reported with the ``pip install`` line that fixes it.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Annotated, Literal

import typer

from gankit.cli.app import app
from gankit.errors import GankitError
from gankit.serving import MAX_PORT

EXTRA_MODULES = {
    "onnx": ("onnx", "onnxscript", "onnxruntime"),
    "serve": ("onnxruntime", "starlette", "uvicorn", "prometheus_client"),
}


def require_extra(extra: str) -> None:
    """Raise a :class:`GankitError` naming the install command if an extra is missing."""
    for module in EXTRA_MODULES[extra]:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise GankitError(
                f"this command needs the {extra!r} extra ({module} is missing: {exc}); "
                f"install it with: pip install 'gankit[{extra}]'"
            ) from None


def parse_batch(text: str) -> str | int:
    """``dynamic`` or a positive integer, as given to ``--batch``."""
    if text == "dynamic":
        return text
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise GankitError(f"--batch must be 'dynamic' or a positive integer, got {text!r}")


@app.command("export")
def export_command(
    artifact: Annotated[
        str,
        typer.Argument(
            help="What to export: an artifact directory, a run directory (its artifact/ is "
            "used), zoo:NAME (`gankit zoo list` shows them), or hf://OWNER/NAME or "
            "hf://OWNER/NAME@REVISION (a branch, tag or commit sha).",
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="The .onnx file to write (replaced atomically; not a directory)."
        ),
    ] = Path("generator.onnx"),
    fmt: Annotated[str, typer.Option("--format", help="Export format (onnx).")] = "onnx",
    opset: Annotated[int, typer.Option("--opset", help="ONNX opset version.")] = 18,
    fp16: Annotated[bool, typer.Option("--fp16", help="float16 weights, float32 I/O.")] = False,
    int8: Annotated[
        bool,
        typer.Option(
            "--int8",
            help="int8 weights and activations for CPU serving (calibrated on random "
            "latents; checked by mean difference), float32 I/O.",
        ),
    ] = False,
    uint8: Annotated[
        bool, typer.Option("--uint8", help="Output uint8 [B, H, W, C] images.")
    ] = False,
    batch: Annotated[
        str, typer.Option("--batch", help="'dynamic' or a fixed batch size.")
    ] = "dynamic",
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="Skip the onnxruntime parity check.")
    ] = False,
) -> None:
    """Export a generator artifact to a self-describing ONNX file, checked against PyTorch."""
    if fmt.lower() != "onnx":
        raise GankitError(f"unsupported --format {fmt!r}; the only export format is onnx")
    batch_value = parse_batch(batch)
    require_extra("onnx")
    from gankit.export import export_onnx

    path = export_onnx(
        artifact,
        out,
        opset=opset,
        fp16=fp16,
        int8=int8,
        uint8=uint8,
        batch=batch_value,
        verify=not no_verify,
    )
    precision = "fp16" if fp16 else "int8" if int8 else "fp32"
    checked = "" if no_verify else ", matches PyTorch"
    typer.echo(
        f"wrote {path} (opset {opset}, {precision}, "
        f"{'uint8' if uint8 else 'float'} output, batch {batch_value}{checked})"
    )


#: uvicorn's log levels (``uvicorn.config.LOG_LEVELS``), most severe first; a Literal
#: makes typer check the value and list the choices in --help
LogLevel = Literal["critical", "error", "warning", "info", "debug", "trace"]
#: the one uvicorn level the logging module does not name (``uvicorn.logging.TRACE_LOG_LEVEL``)
TRACE_LEVEL = 5


@app.command("serve")
def serve_command(
    model: Annotated[Path, typer.Argument(help="ONNX file written by `gankit export`.")],
    host: Annotated[
        str,
        typer.Option("--host", help="Address to bind (0.0.0.0: every interface)."),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help=f"Port to bind, 0..{MAX_PORT} (0: any free port).")
    ] = 8000,
    max_batch: Annotated[
        int,
        typer.Option(
            "--max-batch",
            help="Most images per onnxruntime run. A fixed-batch export "
            "(`gankit export --batch N`) runs N instead.",
        ),
    ] = 64,
    max_wait_ms: Annotated[
        float, typer.Option("--max-wait-ms", help="How long a request waits to be batched.")
    ] = 5.0,
    max_n: Annotated[int, typer.Option("--max-n", help="Most samples per request.")] = 256,
    max_body_kb: Annotated[
        int, typer.Option("--max-body-kb", help="Largest request body accepted (KiB).")
    ] = 64,
    device: Annotated[
        str,
        typer.Option(
            "--device",
            help="auto (CUDA if a GPU is present, else CPU), cpu, cuda or tensorrt "
            "(cuda and tensorrt need a GPU and stop without one).",
        ),
    ] = "auto",
    graceful_timeout: Annotated[
        int,
        typer.Option(
            "--graceful-timeout",
            help="Seconds (>= 0) that a shutdown waits for requests in flight; those still "
            "running then are answered 503 (0: at once).",
        ),
    ] = 30,
    log_level: Annotated[
        LogLevel,
        typer.Option(
            "--log-level",
            case_sensitive=False,
            help="Log level of uvicorn (access log included) and of gankit's serving log.",
        ),
    ] = "info",
) -> None:
    """Serve an exported generator over HTTP (POST /v1/samples; /healthz, /readyz, /metrics)."""
    for name, value in (
        ("--max-batch", max_batch),
        ("--max-n", max_n),
        ("--max-body-kb", max_body_kb),
    ):
        if value < 1:
            raise GankitError(f"{name} must be a positive integer, got {value}")
    if max_wait_ms < 0:
        raise GankitError(f"--max-wait-ms must be >= 0, got {max_wait_ms}")
    if not 0 <= port <= MAX_PORT:
        raise GankitError(
            f"--port must be in 0..{MAX_PORT} (0 picks a free port), got {port}; "
            "choose a port in range, e.g. --port 8000"
        )
    if graceful_timeout < 0:
        raise GankitError(
            f"--graceful-timeout must be >= 0 seconds, got {graceful_timeout} "
            "(0 answers requests still in flight with 503 at once)"
        )
    if not model.is_file():
        raise GankitError(
            f"ONNX model {str(model)!r} does not exist; create one with "
            "`gankit export ARTIFACT --format onnx --out generator.onnx`"
        )
    require_extra("serve")
    from gankit.serving.schemas import Limits
    from gankit.serving.server import ServerConfig, run_server

    level = log_level.lower()  # case_sensitive=False accepts INFO as well
    set_serving_log_level(level)
    config = ServerConfig(
        model_path=model,
        device=device,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        limits=Limits(max_n=max_n, max_body_bytes=max_body_kb * 1024),
    )
    run_server(config, host=host, port=port, log_level=level, graceful_timeout=graceful_timeout)


def set_serving_log_level(log_level: str) -> None:
    """Let ``gankit.serving`` log at ``log_level`` (its "ready:" line is INFO).

    The CLI's root logger stays at WARNING (``-v`` lowers it); the serving
    logger follows ``--log-level`` like uvicorn's own, whichever is more verbose.
    """
    name = log_level.lower()
    level = TRACE_LEVEL if name == "trace" else logging.getLevelName(name.upper())
    logger = logging.getLogger("gankit.serving")
    logger.setLevel(min(level, logger.getEffectiveLevel()))
