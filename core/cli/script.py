"""What assets/interpolate.vpy does with its `vspipe -a KEY=VALUE` arguments: check every name and value,
resolve the input and weights paths the one documented way, and build the clip (same route as the CLI).

vspipe runs a script from the script's own folder, while users write paths relative to where they typed
the command (the shell's PWD). A relative path is taken from PWD when that names a file; beside the script
otherwise; and if both name different files the script refuses rather than guess.
"""
from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path
from typing import Any

import vapoursynth as vs

from ..errors import InterpolateError
from ..options import RETIRED, Options

# the video, then every filter option by its own name (flags as 0/1, as the filter takes them)
ARGUMENTS = {"input": str, **{f.name: {"data": str, "int": int, "float": float, "flag": int}[f.metadata["kind"]]
                              for f in fields(Options)}}
PATHS = ("input", "weights")
NAMED_WEIGHTS = ("paper", "untrained")   # weights= names of models, not files (checkpoint.BUNDLED, UNTRAINED)


def _fail(message: str) -> vs.Error:
    return vs.Error(f"interpolate.vpy: {message}")


def resolve_path(key: str, text: str, pwd: str | None = None) -> str:
    """A path argument as the user meant it (see the module's docstring)."""
    path = Path(text).expanduser()
    if path.is_absolute():
        return str(path)
    here = Path.cwd() / path
    shell = Path(pwd) / path if pwd else None
    if shell is not None and shell.exists():
        if here.exists() and not os.path.samefile(here, shell):
            raise _fail(f"-a {key}={text} names two different files, {str(shell)!r} (from the folder you ran vspipe "
                        f"in) and {str(here)!r} (beside the script); pass an absolute path")
        return str(shell)
    return str(here if here.exists() or shell is None else shell)


def parse(arguments: dict[str, Any]) -> tuple[str, Options]:
    """vspipe's -a values (strings) -> the input path and the options; unknown names and bad values are errors."""
    for name in arguments:
        if name in RETIRED:
            raise _fail(f"-a {RETIRED[name].filter}")
    unknown = sorted(set(arguments) - set(ARGUMENTS))
    if unknown:
        raise _fail(f"unknown argument(s) {', '.join('-a ' + k for k in unknown)}; accepted: "
                    f"{', '.join(ARGUMENTS)}")
    if "input" not in arguments:
        raise _fail("pass the video with -a input=PATH")
    out: dict[str, Any] = {}
    for key, text in arguments.items():
        kind = ARGUMENTS[key]
        if key in PATHS and not (key == "weights" and str(text) in NAMED_WEIGHTS):
            out[key] = resolve_path(key, str(text), os.environ.get("PWD"))
            continue
        try:
            out[key] = kind(text)
        except ValueError:
            raise _fail(f"-a {key} needs {'a whole number' if kind is int else 'a number'}, got {text!r}") from None
    source = out.pop("input")
    try:
        return source, Options(**out)
    except InterpolateError as exc:
        raise _fail(str(exc)) from None


def build(arguments: dict[str, Any]) -> vs.VideoNode:
    """The interpolated clip in the input's own format."""
    from ..api import interpolate_source
    from ..errors import SourceError
    from ..video import open_source
    source, options = parse(arguments)
    try:
        src = open_source(source)
    except SourceError as exc:
        raise _fail(str(exc)) from None
    clip, _ = interpolate_source(src, options)
    return clip
