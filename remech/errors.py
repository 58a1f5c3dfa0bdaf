"""Errors that reach the user as one line, without a traceback."""


class InputError(Exception):
    """Bad input: the message names the file, the row or field, the bad value and the fix."""

    exit_code = 2
