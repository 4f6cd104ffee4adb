"""Errors whose text reaches the user verbatim (the C plugin prefixes 'convlstm.Interpolate: ')."""


class InterpolateError(ValueError):
    """Bad input or argument: the message names the problem and the fix."""


class SourceError(RuntimeError):
    """A video file that cannot be opened or decoded."""


class UsageError(ValueError):
    """A bad option or path given to a command, reported as one line."""
