"""Progress bars on a terminal: the one `sekvens job watch`, `sekvens export` and `sekvens
import` draw (redrawn in place on a terminal, a line per step otherwise)."""

from __future__ import annotations

import sys

import click

BAR_WIDTH = 30


def gauge(handled: int, total: int, ended: bool = False, width: int = BAR_WIDTH) -> str:
    """`[#####.....]  50%`: `handled` of `total` (an empty total is full once `ended`)."""
    filled = width if total == 0 and ended else 0
    if total:
        filled = min(width, handled * width // total)
    percent = f"{100 * handled // total:3d}%" if total else "   -"
    return f"[{'#' * filled}{'.' * (width - filled)}] {percent}"


class ProgressBar:
    """A `progress(done, total)` callback that draws `label [bar] percent done/total` on
    stderr; `close()` ends a redrawn line."""

    def __init__(self, label: str, tty: bool | None = None):
        self.label = label
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        line = f"{self.label} {gauge(done, total, done >= total)} {done}/{total}"
        if self.tty:  # one line, redrawn
            click.echo("\r" + line, nl=False, err=True)
        else:
            click.echo(line, err=True)
        self.drawn = True

    def close(self) -> None:
        if self.tty and self.drawn:
            click.echo("", err=True)
        self.drawn = False
