"""Errors whose text reaches the user verbatim (the C plugin prefixes 'convlstm.Interpolate: ')."""


class InterpolateError(ValueError):
    """Bad input or argument: the message names the problem and the fix."""
