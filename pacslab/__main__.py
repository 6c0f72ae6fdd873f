"""``python -m pacslab`` runs the command line."""

from __future__ import annotations

import sys

from pacslab.cli.main import main

sys.exit(main())
