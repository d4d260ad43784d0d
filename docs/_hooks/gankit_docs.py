"""MkDocs hooks for the gankit site (listed under ``hooks:`` in mkdocs.yml).

1. Links from a page to the source tree (``../gankit/hookspecs.py``, ``../plugins``)
   work on GitHub but not on the site. A link to a module that the API reference
   documents becomes a cross-reference to it; any other becomes a link into the
   repository when ``repo_url`` is set, and plain text otherwise. Links inside
   ``docs/`` are left to MkDocs, which still validates them strictly.
2. The docstrings use Sphinx roles (``:class:`~gankit.data.TensorData```), which
   mkdocstrings renders verbatim. They become cross-references when the target is
   in the API reference and plain code otherwise (autorefs' ``optional`` form
   never warns).
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

_LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]+)\]\((?P<target>\.\./[^)\s#]+)(?P<anchor>#[^)\s]*)?\)")
_ROLE = re.compile(
    r":(?:py:)?(?:class|func|meth|data|attr|mod|exc|obj|const):<code>(?P<tilde>~)?(?P<path>[^<]+)</code>"
)
_DIRECTIVE = re.compile(r"^:::\s+(?P<ident>[\w.]+)", re.MULTILINE)


def _documented_modules(docs_dir: Path) -> set[str]:
    api = docs_dir / "api.md"
    if not api.exists():
        return set()
    return set(_DIRECTIVE.findall(api.read_text(encoding="utf-8")))


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    docs_dir = Path(config["docs_dir"]).resolve()
    root = docs_dir.parent
    page_dir = posixpath.dirname(page.file.src_uri)
    modules = _documented_modules(docs_dir)
    repo_url = (config.get("repo_url") or "").rstrip("/")

    def replace(match: re.Match[str]) -> str:
        text, target = match["text"], match["target"]
        resolved = (docs_dir / page_dir / target).resolve()
        try:
            rel = resolved.relative_to(root).as_posix()
        except ValueError:  # outside the repository: leave it to MkDocs
            return match[0]
        if resolved.is_relative_to(docs_dir):
            return match[0]
        if rel.endswith(".py"):
            module = rel[:-3].replace("/", ".").removesuffix(".__init__")
            if module in modules:
                return f"[{text}][{module}]"
        if repo_url:
            return f"[{text}]({repo_url}/blob/main/{rel}{match['anchor'] or ''})"
        return text

    return _LINK.sub(replace, markdown)


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    def replace(match: re.Match[str]) -> str:
        path = match["path"].strip()
        shown = path.rsplit(".", 1)[-1] if match["tilde"] else path
        # gankit.training is documented as `training.*` (see api.md): try that second.
        slug = f' slug="{path[7:]}"' if path.startswith("gankit.training.") else ""
        return f'<autoref optional identifier="{path}"{slug}><code>{shown}</code></autoref>'

    return _ROLE.sub(replace, html)
