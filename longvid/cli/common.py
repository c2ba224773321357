"""What the command modules share: stderr logging and turning expected errors into one line."""

from __future__ import annotations

import contextlib
import sys
from typing import Iterator

import typer

from longvid.errors import USER_ERRORS, user_message


def log(message: str) -> None:
    """Progress and notes go to stderr, so stdout stays data."""
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def clear_errors() -> Iterator[None]:
    """Turn the errors a user can fix (missing files, bad names, refused SQL, an unreachable cluster)
    into one line, exit 2."""
    try:
        yield
    except USER_ERRORS as e:
        typer.echo(f"error: {user_message(e)}", err=True)
        raise typer.Exit(code=2) from None
