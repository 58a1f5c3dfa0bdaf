"""Errors that reach the user as one line per problem, without a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

#: the most problems one error lists (the rest are counted)
MAX_LINES = 20


class InputError(Exception):
    """Bad input: the message names the file, the row or field, the bad value and the fix.

    One problem per line; ``lines`` holds them (several when errors were collected)."""

    exit_code = 2

    @property
    def lines(self) -> list[str]:
        return str(self).splitlines()

    @classmethod
    def many(cls, lines: list[str], limit: int = MAX_LINES, hidden: int = 0) -> InputError:
        """One error listing several problems, at most ``limit`` of them (``hidden``: more
        problems known only by their number)."""
        shown = list(lines[:limit])
        more = max(0, len(lines) - limit) + hidden
        if more:
            shown.append(f"... and {more} more problem(s) not shown; fix these first")
        return cls("\n".join(shown))


class Collector:
    """Gathers InputErrors from independent checks, to report them together."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.hidden = 0  # problems beyond MAX_LINES, counted only

    @contextmanager
    def collect(self) -> Iterator[None]:
        try:
            yield
        except InputError as exc:
            self.add(exc)

    def run(self, check, *args, **kwargs) -> None:
        """Call ``check(*args, **kwargs)``, keeping its InputError for later."""
        with self.collect():
            check(*args, **kwargs)

    def add(self, exc: InputError) -> None:
        for line in exc.lines:
            if line.startswith("... and "):
                self.hidden += int(line.split()[2])
            elif line not in self.lines:
                if len(self.lines) < MAX_LINES:
                    self.lines.append(line)
                else:
                    self.hidden += 1

    def raise_if_any(self) -> None:
        if self.lines:
            raise InputError.many(self.lines, hidden=self.hidden)
