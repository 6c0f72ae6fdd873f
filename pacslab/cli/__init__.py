"""The ``pacslab`` command line."""

from __future__ import annotations

from pacslab.cli.main import main

__all__ = ["main"]
