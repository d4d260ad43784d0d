"""Where onnxruntime spends an exported generator's time: kernel time by operator type.

Exports the untrained DCGAN 64x64 RGB generator of benchmarks/sampler.py (or any
artifact or zoo name given with --source) with uint8 output, in fp32 and int8
(``gankit export --uint8 [--int8]``), runs each file in onnxruntime's CPU
provider with its profiler on, and reports each operator type's share of the
summed kernel time, the largest single nodes, and the node count by type of the
graph onnxruntime actually runs (after its optimizations, e.g. the NHWC
transposes it inserts around int8 convolutions). The shares say which part of a
graph to make cheaper; the speed itself is measured by benchmarks/sampler.py.

    python benchmarks/onnx_profile.py --json benchmarks/results/onnx_profile.json
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

import gankit
from gankit.export import export_onnx
from gankit.export.verify import random_feeds

from report import write_json
from sampler import dcgan64_artifact

#: onnxruntime's profiler names a node's kernel event ``<node>_kernel_time``
KERNEL_SUFFIX = "_kernel_time"


def profile_file(path: Path, feed: dict[str, np.ndarray], calls: int, top: int) -> dict[str, Any]:
    """Kernel time by operator type and the ``top`` slowest nodes of ``calls`` runs of ``path``."""
    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(path.with_suffix(""))
    optimized = path.with_suffix(".optimized.onnx")
    options.optimized_model_filepath = str(optimized)
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    for _ in range(calls):
        session.run(None, feed)
    events = json.loads(Path(session.end_profiling()).read_text())
    by_type: collections.Counter[str] = collections.Counter()
    by_node: collections.Counter[str] = collections.Counter()
    for event in events:
        name = str(event.get("name", ""))
        if event.get("cat") == "Node" and name.endswith(KERNEL_SUFFIX):
            by_type[event["args"]["op_name"]] += int(event["dur"])
            by_node[name.removesuffix(KERNEL_SUFFIX)] += int(event["dur"])
    total = sum(by_type.values())
    graph = onnx.load(str(optimized), load_external_data=False).graph
    return {
        "kernel_ms_per_call": round(total / 1000 / calls, 2),
        "share_by_op_type": {op: round(d / total, 3) for op, d in by_type.most_common()},
        "slowest_nodes": {n: round(d / total, 3) for n, d in by_node.most_common(top)},
        "nodes_by_op_type": dict(collections.Counter(n.op_type for n in graph.node).most_common()),
    }


def main() -> None:
    """Run the profile."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--source", help="artifact directory or zoo name (default: the untrained DCGAN 64x64 RGB)"
    )
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--calls", type=int, default=10, help="profiled runs per file")
    ap.add_argument("--top", type=int, default=8, help="slowest nodes listed per file")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="gankit-onnx-profile-"))
    source = args.source or str(dcgan64_artifact(root))
    g = gankit.load_generator(source)
    feed = random_feeds(np.random.default_rng(0), args.batch, g.latent_dim, g.num_classes)
    result: dict[str, Any] = {
        "source": args.source or "dcgan-64x64-rgb (untrained)",
        "onnxruntime": ort.__version__,
        "batch": args.batch,
        "calls": args.calls,
    }
    for precision in ("fp32", "int8"):
        path = export_onnx(g, root / f"{precision}.onnx", uint8=True, int8=precision == "int8")
        result[precision] = profile_file(path, feed, args.calls, args.top)
    write_json(result, args.json)


if __name__ == "__main__":
    main()
