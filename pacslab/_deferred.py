"""Importing pacslab's dependencies without work they do at import for features pacslab does not use.

pydicom imports ``requests`` whenever it is imported, for the downloader of its test files
(``pydicom.data``); requests brings urllib3, charset_normalizer, idna, certifi and the
cookie jar along, about 0.1 s of every ``pacslab`` command's start and of ``import pacslab``.
:func:`deferred_imports` lets pydicom's ``import requests`` bind a stand-in that imports the
real module the first time one of its attributes is used.

pylibjpeg (three times, for pydicom's pixel plugins), fsspec and numcodecs each read the entry
points of every installed package when they are imported, 10-20 ms a scan here;
:func:`one_entry_point_scan` answers them all from one.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import importlib.util
import sys
import types
from collections.abc import Iterator
from typing import Any

__all__ = ["deferred_imports", "one_entry_point_scan"]


class _DeferredModule(types.ModuleType):
    """A stand-in for a module that is imported on first use of an attribute it does not have.

    It carries the module's ``__spec__`` (so that ``import name`` binds it without loading)
    and nothing else: any other attribute, ``__path__`` for a submodule import included,
    imports the real module and is looked up there.
    """

    def __getattr__(self, attr: str) -> object:
        module = sys.modules.get(self.__name__)
        if module is None or module is self:
            sys.modules.pop(self.__name__, None)
            module = importlib.import_module(self.__name__)
        self.__dict__.update(module.__dict__)  # later look-ups find it here, without this call
        return getattr(module, attr)


@contextlib.contextmanager
def deferred_imports(*names: str) -> Iterator[None]:
    """Within the block, ``import NAME`` of a top-level module not imported yet binds a stand-in.

    The stand-in imports the real module when an attribute of it is first used, from
    anywhere. It is taken out of ``sys.modules`` at the end of the block (when unused so far),
    so that code importing NAME later gets the real module itself; only the modules imported
    in the block keep a stand-in.

    Parameters
    ----------
    names : str
        Top-level module names; those already imported, or not installed, are left as they are.

    Examples
    --------
    >>> with deferred_imports("requests"):  # doctest: +SKIP
    ...     import pydicom  # its ``import requests`` loads nothing yet
    """
    stand_ins: dict[str, _DeferredModule] = {}
    for name in names:
        if "." in name:
            raise ValueError(f"deferred_imports takes top-level module names, not {name!r}.")
        spec = None if name in sys.modules else importlib.util.find_spec(name)
        if spec is not None:
            stand_in = _DeferredModule(name)
            stand_in.__spec__ = spec
            sys.modules[name] = stand_ins[name] = stand_in
    try:
        yield
    finally:
        for name, stand_in in stand_ins.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]


@contextlib.contextmanager
def one_entry_point_scan() -> Iterator[None]:
    """Within the block, ``importlib.metadata.entry_points(...)`` answers from one scan of the installed packages.

    The first call scans as the function does; later calls select from that scan, which is what
    the function itself does on a new one. Afterwards the function is the original again, and a
    module that bound the block's stand-in by name meanwhile gets a new scan on each call.

    Examples
    --------
    >>> with one_entry_point_scan():  # doctest: +SKIP
    ...     import fsspec, numcodecs  # their plugin look-ups read the packages' metadata once
    """
    original = importlib.metadata.entry_points
    scans: list[Any] = []
    active = True

    def entry_points(**params: Any) -> Any:
        if not active:
            return original(**params)
        if not scans:
            scans.append(original())
        return scans[0].select(**params)

    importlib.metadata.entry_points = entry_points  # type: ignore[assignment]
    try:
        yield
    finally:
        active = False
        if importlib.metadata.entry_points is entry_points:
            importlib.metadata.entry_points = original
