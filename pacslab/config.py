"""Package configuration, on donfig (the same machinery as dask and zarr).

Defaults live in ``pacslab.yaml`` beside this file; environment variables
override them (``PACSLAB_INGEST__WORKERS=1``), and :func:`config.set` works
globally or as a context manager::

    with pacslab.config.set({"volumes.chunks": [8, 256, 256]}):
        ...
"""

from __future__ import annotations

from pathlib import Path

import yaml
from donfig import Config

__all__ = ["config", "get", "load_yaml"]


def load_yaml(text: str | bytes) -> object:
    """``yaml.safe_load`` through libyaml when PyYAML has it (several times faster)."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader


_DEFAULTS = load_yaml((Path(__file__).parent / "pacslab.yaml").read_text())

config = Config("pacslab", defaults=[_DEFAULTS])


def get(key: str, override: object = None) -> object:
    """``override`` when it is not None, else the configured value of *key*.

    Functions take ``None`` defaults and resolve them here (as ``dask.config.get(..., override_with=...)``).
    """
    return config.get(key) if override is None else override
