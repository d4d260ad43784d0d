"""``export_onnx``: a generator artifact to a self-describing, parity-checked ONNX file.

Exporter choice (torch 2.14): the dynamo exporter (``torch.onnx.export(...,
dynamo=True)``, the default) is tried first. It exports every built-in style of
generator tested here (ConvTranspose + BatchNorm, embeddings for labels), folds
eval-mode BatchNorm into the convolutions and names the batch dimension.
When it fails (typically ``torch.export`` refusing data-dependent Python control
flow) the TorchScript exporter (``dynamo=False``, deprecated upstream) is tried.
Tracing bakes such control flow into constants, which is why the parity check
against PyTorch runs on fresh inputs at several batch sizes after every export.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import stat
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gankit.artifacts import LoadedGenerator
from gankit.errors import ExportError
from gankit.export.int8 import cpu_int8_copy, quantize_int8
from gankit.export.metadata import (
    FORMAT_FLOAT,
    FORMAT_UINT8,
    INPUT_LABELS,
    INPUT_Z,
    OUTPUT_IMAGES,
    build_metadata,
)
from gankit.export.resolve import resolve_generator
from gankit.export.verify import DYNAMIC_BATCHES, verify_onnx
from gankit.export.wrappers import half_precision_copy, make_wrapper

log = logging.getLogger(__name__)

#: example batch for a dynamic export: a batch of 1 would specialize the dimension
EXAMPLE_BATCH = 2
MIN_OPSET = 7
#: per-channel QuantizeLinear/DequantizeLinear (an axis) need opset 13
INT8_MIN_OPSET = 13


def export_onnx(
    generator_or_artifact: LoadedGenerator | str | Path,
    out_path: str | Path,
    *,
    opset: int = 18,
    fp16: bool = False,
    int8: bool = False,
    uint8: bool = False,
    batch: str | int = "dynamic",
    verify: bool = True,
) -> Path:
    """Export a generator to ONNX at ``out_path`` and check it against PyTorch.

    Args:
        generator_or_artifact: a :class:`LoadedGenerator`, an artifact directory or a
            zoo name (see :func:`gankit.export.resolve.resolve_generator`).
        out_path: the ``.onnx`` file to write (replaced atomically); missing parent
            directories are created.
        opset: ONNX opset version.
        fp16: float16 weights and compute, float32 I/O.
        int8: int8 weights and activations for CPU serving (static quantization
            calibrated on random latents, see :mod:`gankit.export.int8`), float32 I/O.
        uint8: output uint8 ``[B, H, W, C]`` instead of float ``[B, C, H, W]``.
        batch: ``"dynamic"`` or a fixed batch size.
        verify: compare onnxruntime (CPU) with the fp32 PyTorch generator at batches
            1, 7, 64 (or the fixed one): max abs difference <= 1e-4 (fp32) or 2e-2
            (fp16), uint8 output within 1 step of ``gankit.images.to_uint8`` (fp16: 4
            steps); int8: mean abs difference <= 3e-2 (uint8: 4.3 steps), see
            :data:`gankit.export.verify.MEAN_TOLERANCE`. All-zero latents are checked
            too: NaN or inf where PyTorch has none fails (fp32/fp16: within the
            same tolerance).

    Returns the path written, with owner-only permissions (mode 600) whatever the
    precision. Raises :class:`ExportError` if ``out_path`` cannot be written (a
    directory, a path below a file: checked before anything is loaded or
    exported), the module cannot be exported or the parity check fails (no file
    is left behind then).
    """
    fixed = _parse_batch(batch)
    if not isinstance(opset, int) or opset < MIN_OPSET:
        raise ExportError(f"opset must be an integer >= {MIN_OPSET}, got {opset!r}")
    if fp16 and int8:
        raise ExportError("fp16 and int8 exclude each other: choose one (int8 is for CPU serving)")
    if int8 and opset < INT8_MIN_OPSET:
        raise ExportError(f"int8 export needs opset >= {INT8_MIN_OPSET}, got {opset}")
    precision = "fp16" if fp16 else "int8" if int8 else "fp32"
    out = check_out_path(out_path)  # before any download, export or parity check
    gen = resolve_generator(generator_or_artifact)
    conditional = gen.num_classes > 0
    if uint8 and len(gen.data_shape) != 3:
        raise ExportError(
            f"--uint8 needs an image generator (data_shape C,H,W); this one outputs "
            f"{tuple(gen.data_shape)}: export it without --uint8"
        )
    name = type(gen.generator).__name__
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    except OSError as exc:
        raise _write_error(out, exc) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with _eval_mode(gen):
            inner = gen.generator
            if fp16:
                inner = half_precision_copy(inner)
            elif int8:
                inner = cpu_int8_copy(inner)
            wrapper = make_wrapper(inner, conditional=conditional, uint8=uint8, fp16=fp16)
            args = _example_inputs(gen, fixed or EXAMPLE_BATCH)
            exporter = _run_exporter(
                wrapper, args, tmp, opset=opset, dynamic=fixed is None, name=name
            )
            log.info("exported %s with the %s exporter", name, exporter)
            if int8:
                _quantize_in_place(tmp, gen, name=name)
            _finish_model(tmp, gen, precision=precision, uint8=uint8, batch=fixed, name=name)
            if verify:
                verify_onnx(
                    tmp,
                    gen,
                    name=name,
                    latent_dim=gen.latent_dim,
                    num_classes=gen.num_classes,
                    batches=(fixed,) if fixed else DYNAMIC_BATCHES,
                    precision=precision,
                    uint8=uint8,
                )
        try:
            os.replace(tmp, out)
        except OSError as exc:
            raise _write_error(out, exc) from None
    finally:
        tmp.unlink(missing_ok=True)
    return out


def check_out_path(out_path: str | Path) -> Path:
    """Refuse an output path that cannot become the exported file, before any work is done.

    ``out_path`` must name a file: not an existing directory, and not below an
    existing file. Missing parent directories are fine (they are created).
    Raises :class:`ExportError` naming ``--out`` and what to give instead.
    """
    out = Path(out_path).expanduser()
    if str(out_path).endswith(("/", os.sep)) or out.is_dir():
        raise ExportError(
            f"--out {str(out_path)!r} is a directory; give the file to write, "
            f"e.g. --out {str(out / 'generator.onnx')!r}"
        )
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ExportError(
                    f"--out {str(out_path)!r}: {str(parent)!r} is a file, not a directory; "
                    "give a path inside a directory, e.g. --out generator.onnx"
                )
            if not os.access(parent, os.W_OK | os.X_OK):
                raise ExportError(
                    f"--out {str(out_path)!r}: directory {str(parent)!r} is not writable; "
                    "choose an --out path in a directory you can write to"
                )
            break
    if out.exists() and not out.is_file():
        raise ExportError(
            f"--out {str(out_path)!r} exists and is not a regular file; give another path"
        )
    return out


def _write_error(out: Path, exc: OSError) -> ExportError:
    reason = exc.strerror or str(exc)
    return ExportError(
        f"cannot write --out {str(out)!r}: {reason.lower()}; choose another --out path "
        "(a file in a writable directory)"
    )


def _quantize_in_place(path: Path, gen: LoadedGenerator, *, name: str) -> None:
    """Replace the fp32 model at ``path`` by its int8 quantization, keeping its file mode.

    ``path`` is the export's temporary file (mode 600, from ``mkstemp``); onnxruntime
    writes the quantized model with the umask's mode (usually 644), so the mode is
    copied over before the rename.
    """
    quantized = path.with_name(path.name + ".int8")
    try:
        quantize_int8(path, quantized, latent_dim=gen.latent_dim, num_classes=gen.num_classes)
        os.chmod(quantized, stat.S_IMODE(path.stat().st_mode))
        os.replace(quantized, path)
    except Exception as exc:  # noqa: BLE001 - reported with the module's name
        raise ExportError(
            f"onnxruntime could not quantize {name} to int8: {_summary(exc)}; "
            "export it without --int8"
        ) from exc
    finally:
        quantized.unlink(missing_ok=True)


def _parse_batch(batch: str | int) -> int | None:
    if batch == "dynamic" or batch is None:
        return None
    try:
        value = int(batch)
    except (TypeError, ValueError):
        value = 0
    if value < 1 or isinstance(batch, bool):
        raise ExportError(f"batch must be 'dynamic' or a positive integer, got {batch!r}")
    return value


@contextlib.contextmanager
def _eval_mode(module: nn.Module) -> Iterator[None]:
    """Put every submodule in eval mode, restoring each one's mode afterwards."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


def _example_inputs(gen: LoadedGenerator, n: int) -> tuple[torch.Tensor, ...]:
    z = torch.randn(n, gen.latent_dim, generator=torch.Generator().manual_seed(0))
    if gen.num_classes > 0:
        return z, torch.arange(n, dtype=torch.long) % gen.num_classes
    return (z,)


def _input_names(args: tuple[torch.Tensor, ...]) -> list[str]:
    return [INPUT_Z, INPUT_LABELS][: len(args)]


def _run_exporter(
    wrapper: nn.Module,
    args: tuple[torch.Tensor, ...],
    path: Path,
    *,
    opset: int,
    dynamic: bool,
    name: str,
) -> str:
    """Export with the dynamo exporter, falling back to TorchScript; returns which worked."""
    names = _input_names(args)
    try:
        batch_dim = torch.export.Dim("batch", min=1, max=1 << 20)
        shapes = {n: {0: batch_dim} for n in names} if dynamic else None
        with _quiet():
            torch.onnx.export(
                wrapper,
                args,
                str(path),
                input_names=names,
                output_names=[OUTPUT_IMAGES],
                dynamic_shapes=shapes,
                opset_version=opset,
                dynamo=True,
                verbose=False,
                external_data=False,
            )
        return "dynamo"
    except Exception as exc:  # noqa: BLE001 - any exporter failure -> try TorchScript
        dynamo_error = _summary(exc)
        log.info("dynamo exporter failed for %s (%s); trying TorchScript", name, dynamo_error)
    try:
        axes = {n: {0: "batch"} for n in [*names, OUTPUT_IMAGES]} if dynamic else None
        with _quiet():
            torch.onnx.export(
                wrapper,
                args,
                str(path),
                input_names=names,
                output_names=[OUTPUT_IMAGES],
                dynamic_axes=axes,
                opset_version=opset,
                dynamo=False,
            )
        return "torchscript"
    except Exception as exc:  # noqa: BLE001 - reported with the module's name
        raise ExportError(
            f"cannot export generator module {name} to ONNX. dynamo exporter: {dynamo_error}; "
            f"TorchScript exporter: {_summary(exc)}"
        ) from exc


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporters' progress prints and warnings (failures are still raised)."""
    sink = io.StringIO()
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(sink),
        contextlib.redirect_stderr(sink),
    ):
        warnings.simplefilter("ignore")
        yield
    if sink.getvalue():
        log.debug("exporter output:\n%s", sink.getvalue())


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _summary(exc: BaseException, limit: int = 400) -> str:
    """A one-paragraph version of an exporter's (often very long) error message."""
    text = _ANSI.sub("", str(exc))
    marker = "## Exception summary"
    if marker in text:
        text = text.split(marker, 1)[1]
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    first = lines[0] if lines else type(exc).__name__
    return f"{type(exc).__name__}: {first}"[:limit]


def _finish_model(
    path: Path, gen: LoadedGenerator, *, precision: str, uint8: bool, batch: int | None, name: str
) -> None:
    """Check the graph (I/O, no training-mode BatchNorm) and write the gankit metadata."""
    import onnx

    from gankit import __version__

    model = onnx.load(str(path))
    _check_graph(model, gen, uint8=uint8, name=name)
    props = build_metadata(
        gen.config,
        latent_dim=gen.latent_dim,
        num_classes=gen.num_classes,
        data_shape=tuple(gen.data_shape),
        output_format=FORMAT_UINT8 if uint8 else FORMAT_FLOAT,
        batch=batch,
        precision=precision,
        gankit_version=__version__,
    )
    onnx.helper.set_model_props(model, {**_existing_props(model), **props})
    model.producer_name = "gankit"
    model.producer_version = __version__
    onnx.save(model, str(path))


def _existing_props(model: Any) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def _check_graph(model: Any, gen: LoadedGenerator, *, uint8: bool, name: str) -> None:
    from onnx import TensorProto

    for node in model.graph.node:
        if node.op_type == "BatchNormalization":
            for attr in node.attribute:
                if attr.name == "training_mode" and attr.i:
                    raise ExportError(
                        f"exported {name} has a BatchNormalization node in training mode "
                        f"({node.name}); export from .eval()"
                    )
    want_in = [(INPUT_Z, TensorProto.FLOAT)]
    if gen.num_classes > 0:
        want_in.append((INPUT_LABELS, TensorProto.INT64))
    got_in = [(i.name, i.type.tensor_type.elem_type) for i in model.graph.input]
    unused = [n for n, _ in want_in if n not in {g for g, _ in got_in}]
    if unused:
        raise ExportError(
            f"exported {name} does not use its input {', '.join(unused)}: its forward() turns "
            "tensors into Python or numpy values (or ignores them), so the graph is a constant; "
            "make forward() traceable"
        )
    out_type = TensorProto.UINT8 if uint8 else TensorProto.FLOAT
    got_out = [(o.name, o.type.tensor_type.elem_type) for o in model.graph.output]
    if got_in != want_in or got_out != [(OUTPUT_IMAGES, out_type)]:
        raise ExportError(
            f"exported {name} has inputs {got_in} and outputs {got_out}; expected {want_in} "
            f"and {[(OUTPUT_IMAGES, out_type)]}"
        )
