"""The one exception type for mistakes an operator can fix.

Anything raised as UserError reaches the terminal as its lines (no traceback) and exit status 2;
every other exception is a bug in this tool and exits 1.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem in the job, its files or the machine that the operator can fix; one line per problem."""

    def __init__(self, *lines: str) -> None:
        self.lines = [line for line in lines if line] or ["unknown problem"]
        super().__init__("\n".join(self.lines))
