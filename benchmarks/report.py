"""The output step every benchmark script shares: its result as JSON, on screen and on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_json(result: Any, path: Path | None, *, show: bool = True) -> None:
    """Print ``result`` as indented JSON (unless ``show`` is false) and write it to ``path``.

    ``path`` is the script's ``--json`` argument: ``None`` writes nothing; its parent
    directories are created.
    """
    text = json.dumps(result, indent=2) + "\n"
    if show:
        print(text, end="", flush=True)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
