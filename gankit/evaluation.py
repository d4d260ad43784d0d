"""The data a metric compares a generator with: the metric's reference split.

A metric whose config has a ``split`` field (``fd``, ``fid``, ... default
``"test"``) is given that split of the dataset, built with the options the
generator was trained with (image size, padding, root) and ``split`` replaced.
A dataset without splits (its config has no ``split`` field) is used as
configured, and the reference is recorded as having no split. Metrics without
a ``split`` field get the dataset as configured.

Both ``gankit eval`` and the trainer go through :class:`ReferenceData`, so a
number measured during training and one measured by ``gankit eval`` on the
artifact compare the same images. What ``gankit eval`` reports as a metric's
reference is :func:`compared_with`: the data it is handed, unless the metric
says it uses only part of it (mode centres) or none (``coverage``, ``is``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from gankit import config as config_mod
from gankit.data import TensorData
from gankit.plugins import QUALIFIER
from gankit.registry import create_dataset, get_component, make_config

T = TypeVar("T")


#: the work shared by the metrics of one :func:`metric_pass` (None outside any)
_PASS: ContextVar[dict[Hashable, Any] | None] = ContextVar("gankit_metric_pass", default=None)


@contextmanager
def metric_pass() -> Iterator[None]:
    """Let the metrics computed in this block share work through :func:`shared`.

    ``gankit eval`` and the trainer's metric steps run all their metrics in one
    such block, on one generator whose weights do not change inside it; what a
    metric stores is dropped when the block ends.
    """
    token = _PASS.set({})
    try:
        yield
    finally:
        _PASS.reset(token)


def shared(key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, or what it returned for ``key`` earlier in the same :func:`metric_pass`.

    For metrics that score the same samples: ``fd`` and ``coverage`` with the same
    ``n``, ``seed`` and classifier classify one set of samples between them. The
    key must name everything the value depends on except the generator's weights
    (include ``id(generator)``); outside a metric pass nothing is kept.
    """
    cache = _PASS.get()
    if cache is None:
        return compute()
    if key not in cache:
        cache[key] = compute()
    return cast(T, cache[key])


def metric_split(metric_config: Any) -> str | None:
    """The reference split a metric's config asks for, or None if it has no ``split`` field."""
    split = getattr(metric_config, "split", None)
    return str(split) if split is not None else None


@dataclass
class ReferenceData:
    """Builds (once per split) the reference data of a dataset and describes it.

    ``data_config`` holds the dataset options the generator was trained with;
    ``base`` is that dataset already built, used when no other split is needed.
    """

    dataset: str
    data_config: dict[str, Any] = field(default_factory=dict)
    base: TensorData | None = None
    _built: dict[str | None, TensorData] = field(default_factory=dict, repr=False)

    def has_splits(self) -> bool:
        """True if the dataset's config has a ``split`` field."""
        comp = get_component("dataset", self.dataset)
        return "split" in config_mod.field_names(comp.config)

    def effective_split(self, split: str | None) -> str | None:
        """The split that will be used: None for metrics without one or datasets without splits."""
        if split is None or not self.has_splits():
            return None
        return split

    def get(self, split: str | None) -> TensorData:
        """The data for a metric asking for ``split`` (None: the dataset as configured)."""
        key = self.effective_split(split)
        if key is None or key == self.data_config.get("split"):
            if self.base is None:
                self.base = create_dataset(self.dataset, **self.data_config)
            return self.base
        if key not in self._built:
            self._built[key] = create_dataset(self.dataset, **{**self.data_config, "split": key})
        return self._built[key]

    def describe(self, split: str | None) -> dict[str, Any]:
        """``{"dataset", "split", "size"}`` of the data a metric asking for ``split`` gets.

        ``split`` is None for a dataset without splits.
        """
        data = self.get(split)
        used = self.effective_split(split)
        if used is None and self.has_splits():
            comp = get_component("dataset", self.dataset)
            used = make_config(comp, self.data_config).split
        # the dataset by its name, also when it is looked up as NAME@PLUGIN
        name = self.dataset.partition(QUALIFIER)[0]
        return {"dataset": name, "split": used, "size": len(data)}


def compared_with(
    metric: Any, metric_config: Any, reference: ReferenceData
) -> dict[str, Any] | None:
    """What a metric's values are measured against, as ``gankit eval`` reports it.

    A metric object that defines ``compared_with(data)`` says so itself: None
    when it compares with no data (``coverage`` measures a class histogram
    against a uniform share, ``cond-acc`` against the requested labels, ``is``
    scores the samples alone), or a dict like :meth:`ReferenceData.describe`'s,
    optionally with ``what`` it uses of the data (``mixture-modes``: the mode
    centres). Any other metric compares with the data it is handed, described
    by :meth:`ReferenceData.describe`.
    """
    split = metric_split(metric_config)
    own = getattr(metric, "compared_with", None)
    if own is None:
        return reference.describe(split)
    described = own(reference.get(split))
    return dict(described) if described is not None else None


def reference_text(ref: dict[str, Any] | None) -> str:
    """One line for a :func:`compared_with` result: ``digits test (355)``; ``""`` for None."""
    if not ref:
        return ""
    words = (ref.get("dataset"), ref.get("split"), ref.get("what"))
    return f"{' '.join(str(w) for w in words if w)} ({ref.get('size')})"


#: Values of the domain metrics that describe the measurement rather than the generator.
_BOOKKEEPING = ("classifier_accuracy", "num_classes")


def catalogue_metrics(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Turn ``gankit eval --json`` output into zoo catalogue / model card metrics.

    Each reported quantity becomes ``{value, metric, extractor, n, seed, command}``,
    plus ``reference`` (the data compared with) for metrics that have a split,
    ``classifier_test_accuracy`` for the classifier-based metrics and ``out_of``
    for ``classes_covered``; per-class shares are left out.
    """
    out: dict[str, dict[str, Any]] = {}
    for name, res in result.get("metrics", {}).items():
        values, cfg = res["values"], res.get("config", {})
        ref = res.get("reference") or {}  # null for metrics that compare with no data
        where = " ".join(str(p) for p in (ref.get("dataset"), ref.get("split")) if p)
        how: dict[str, Any] = {
            "metric": name,
            "extractor": get_component("metric", name).description,
            "n": cfg.get("n"),
            "seed": cfg.get("seed"),
            "command": result.get("command", ""),
        }
        if ref and "split" in cfg:  # only metrics that compare with data have a reference
            how["reference"] = f"{where} ({ref.get('size')} images)"
        if "classifier_accuracy" in values:
            how["classifier_test_accuracy"] = round(float(values["classifier_accuracy"]), 4)
        for key, value in values.items():
            if key in _BOOKKEEPING or key.startswith("share_"):
                continue
            entry: dict[str, Any] = {"value": round(float(value), 4), **how}
            if key == "classes_covered" and "num_classes" in values:
                entry["value"] = int(value)
                entry["out_of"] = int(values["num_classes"])
            out[key] = entry
    return out
