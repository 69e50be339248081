"""The one error type a user ever sees.

Anything raised as `LeapError` is a mistake in the user's input or environment (config,
dataset, store, engine). Its message is one sentence that says what was wrong and what
to do; the CLI prints it without a traceback and exits non-zero.
"""


class LeapError(Exception):
    """A user-facing error: one clear sentence, no traceback."""


class StoreError(LeapError):
    """The round store could not be read or written."""


class ObjectExistsError(StoreError):
    """Another writer already stored this object (write-once conflict)."""
