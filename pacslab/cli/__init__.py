"""The ``pacslab`` command line: ``pacslab.cli.main:main``, one module per subcommand."""

from __future__ import annotations

__all__: list[str] = []
