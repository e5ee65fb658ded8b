"""What every model-running backend (classifiers, face models) shares: locating model files
shipped inside installed wheels without importing those packages, and onnxruntime sessions
with explicit thread counts (1 intra-op thread is fastest on our 2-core machines, and
several sessions run side by side)."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

from .base import ClassifierError


def package_file(package: str, *parts: str, needed_by: str, error: type[Exception] = ClassifierError) -> Path:
    """``<package dir>/<parts...>``, located through the import system (the package itself is
    not imported: some open model sessions or read platform directories at import time)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise error(f"{needed_by} needs the '{package.replace('_', '-')}' package")
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    if not path.exists():
        raise error(f"{needed_by}: {path} is missing")
    return path


def load_backend(table: dict[str, str], name: str, kind: str) -> type:
    """The class registered as ``name`` ("module:Class") in ``table``; an unknown name or a
    missing optional package is an error naming it (raised at start-up, never mid-request)."""
    if name not in table:
        raise ValueError(f"unknown {kind} {name!r}; choose from {sorted(table)}")
    module, _, attr = table[name].partition(":")
    try:
        return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]
    except ImportError as exc:
        raise RuntimeError(f"{kind} {name!r} needs a missing package: {exc.name}") from exc


def onnx_session(model: str | Path | bytes, threads: int = 1) -> Any:
    """A CPU onnxruntime session, all graph optimisations, ``threads`` intra-op threads."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, so, providers=["CPUExecutionProvider"])
