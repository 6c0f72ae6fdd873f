"""Progress bars: tqdm's, imported only when one is shown (a run without one starts ~30 ms sooner)."""

from __future__ import annotations

from typing import Any

__all__ = ["progress_bar"]


class _Hidden:
    """What a progress bar nobody sees does."""

    def update(self, n: int = 1) -> None:
        """Nothing."""

    def close(self) -> None:
        """Nothing."""


def progress_bar(total: int, *, unit: str, desc: str, show: bool) -> Any:
    """A tqdm bar (``tqdm.auto``: a widget in notebooks) counting to *total*, or a stand-in when not *show*."""
    if not show:
        return _Hidden()
    from tqdm.auto import tqdm

    return tqdm(total=total, unit=unit, desc=desc)
