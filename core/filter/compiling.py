"""Whether the filter runs the net's learned part compiled (torch.compile, inductor), and the warm-up that
makes compiling pay from a clip's first frame.

Compiled, the learned part takes about two thirds of its eager time on the CPU (640x360, bf16, this
project's 2-core machine: 0.29-0.31 s against 0.38-0.45 s a made frame, bench). But a compile from nothing takes
about a minute there (63 s), with inductor's cache holding the work about 4 s. So with ``compile`` unset
(auto), on the CPU:

- a clip of at least COMPILE_MIN_FRAMES output frames whose frame size (and batch, precision, net) was
  warmed up before on this machine (a marker beside inductor's cache) runs compiled: its first frame waits
  the few seconds;
- any other clip runs eager, and when a long enough one ends (its filter freed), one background process
  (SCHED_IDLE, else nice 19: it takes only what is otherwise idle) compiles the learned part for its size
  into the cache, running the filter's own engine on a blank window, so the next run compiles in seconds.
  Not during the run: beside it, it slowed the filter by a quarter (``warm_up_later``). 81 s at 640x360
  on this project's machine, once per size: a failed one leaves a ``.failed`` file and is not tried again.
  CONVLSTM_NO_WARM_UP=1 in the environment starts none.

A run is compiled or eager from its first frame to its last: the two differ by float rounding (at most
about a level of 8 bits in bf16), never within one clip. On a GPU auto stays eager (compiling has not been
measured there). compile=1 compiles at the first frame whatever the cache holds; compile=0 never compiles.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import subprocess
import sys
import weakref
from pathlib import Path
from typing import Any

import torch

from ..cache import cache_root

log = logging.getLogger("convlstm")

COMPILE_MIN_FRAMES = 200   # output frames: about 100 made at 2x, 15-20 s saved against a warm compile's 4
WARM_NICE = 19


def inductor_cache() -> Path:
    """Where inductor keeps its work: the package's cache folder unless TORCHINDUCTOR_CACHE_DIR says
    otherwise (set here, so that the warm-up process and the filter share it)."""
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_root() / "inductor"))
    return Path(os.environ["TORCHINDUCTOR_CACHE_DIR"])


def quiet_compiler_logs() -> None:
    """The compile's own chatter off stderr, where vspipe users read the filter's messages: inductor's cache
    locks log every lock taken (hundreds a compile, at the debug level vspipe passes on) and torch's C++
    extension loader warns on every CPU-only machine that it found no CUDA."""
    logging.getLogger("filelock").setLevel(logging.WARNING)
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)


def warm_key(net_config: Any, precision: str, batch: int, info: dict[str, Any], options: dict[str, Any],
             threads: int = 0) -> str:
    """What a warm-up's graph depends on: torch's and Python's versions, the net's configuration (inductor
    takes the weights' values as inputs), the learned part's layout on the CPU, the precision, the batch, the
    clip's size and format, the options that change the learned part, and the threads its loops are
    written for (``Engine``'s threads)."""
    from .engine import CPU_LAYOUT
    facts = {"torch": torch.__version__, "python": sys.version_info[:2], "net": dataclasses.asdict(net_config),
             "layout": str(CPU_LAYOUT),
             "precision": precision, "batch": batch, "threads": threads,
             "clip": {k: info.get(k) for k in ("width", "height", "format_name")},
             "options": {k: options.get(k) for k in ("weights", "scales", "tile", "detail")}}
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _marks() -> Path:
    return inductor_cache() / "convlstm-warm"


def plan(compile_option: bool | None, device: torch.device, output_frames: int, key: str, lanes: int = 1) -> bool:
    """Whether this run compiles. With ``compile`` unset, not where passes run side by side (``lanes``):
    there the eager passes made more frames a second than compiled ones (640x360 bf16, this project's
    2-core CPU: 5.15 fps eager in two lanes, 3.78 compiled in two, 3.98 compiled in one; docs/benchmarks.md)."""
    if compile_option is not None:
        return compile_option
    if device.type != "cpu" or output_frames < COMPILE_MIN_FRAMES or lanes > 1:
        return False
    marks = _marks()
    if (marks / f"{key}.done").exists():
        log.info("compiling the learned part (warmed up before: a few seconds at the first frame)")
        return True
    return False


def warm_up_later(run: object, key: str, info: dict[str, Any], options: dict[str, Any]) -> bool:
    """The warm-up for this clip's size (``plan`` said eager and the clip is long enough to want it next
    time), started when ``run`` (the run's engine) is freed: when the filter is, at the run's end. Beside
    the run it would slow it: with the warm-up compiling alongside, 220 frames of 640x360 came at 1.69-1.73
    fps against 2.25-2.36 eager alone (this project's 2-core CPU; nice 19 and SCHED_IDLE alike: the
    filter's threads wait on each other at every operation, and on the compile's cache and memory
    traffic). None where one ran or failed, or where the environment sets CONVLSTM_NO_WARM_UP (render
    farms, test suites). Whether one will start."""
    if os.environ.get("CONVLSTM_NO_WARM_UP") or _settled(key):
        return False
    log.info("the learned part runs eager this time; once this run ends, a background process compiles it for "
             "%sx%s (at idle priority, a minute or two), so that later runs of this size start compiled (compile=0: "
             "never)", info.get("width"), info.get("height"))
    weakref.finalize(run, start_warm_up, key, info, options)
    return True


def _settled(key: str) -> bool:
    marks = _marks()
    return (marks / f"{key}.done").exists() or (marks / f"{key}.failed").exists()


def start_warm_up(key: str, info: dict[str, Any], options: dict[str, Any]) -> bool:
    """One background process that compiles the learned part for this clip's size, now; none where one
    runs, ran or failed, or where the environment sets CONVLSTM_NO_WARM_UP. Whether one started."""
    if os.environ.get("CONVLSTM_NO_WARM_UP"):
        return False
    try:
        return _start(key, info, options)
    except OSError as exc:      # a cache folder it cannot write, no Python to run: the runs stay eager
        log.warning("could not start the background compile (%s); runs of this size stay eager", exc)
        return False


def _start(key: str, info: dict[str, Any], options: dict[str, Any]) -> bool:
    marks = _marks()
    marks.mkdir(parents=True, exist_ok=True)
    if _settled(key):
        return False
    running = marks / f"{key}.running"
    try:
        fd = os.open(running, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        if _alive(running):
            return False
        running.unlink(missing_ok=True)          # its process died: start again
        try:
            fd = os.open(running, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return False
    job = {"key": key, "info": info, "options": options}
    try:
        with open(marks / f"{key}.json", "w") as f:
            json.dump(job, f)
        with open(marks / f"{key}.log", "w") as out:
            proc = subprocess.Popen([_python(), "-m", "convlstm.filter.compiling", str(marks / f"{key}.json")],
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True, env=os.environ.copy())
    except OSError:
        os.close(fd)
        running.unlink(missing_ok=True)         # not left to say "running" for ever
        raise
    with os.fdopen(fd, "w") as f:
        f.write(str(proc.pid))
    log.info("compiling the learned part for %sx%s in the background (pid %d, idle priority), for later runs",
             info.get("width"), info.get("height"), proc.pid)
    return True


def _alive(running: Path) -> bool:
    try:
        pid = int(running.read_text() or "0")
    except (OSError, ValueError):
        return True          # being written by the process that created it
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _python() -> str:
    """This environment's Python (in vspipe, sys.executable may be vspipe itself)."""
    exe = Path(sys.executable)
    if exe.name.startswith("python") and exe.exists():
        return str(exe)
    for name in (f"python{sys.version_info[0]}.{sys.version_info[1]}", "python3", "python"):
        candidate = Path(sys.prefix) / "bin" / name
        if candidate.exists():
            return str(candidate)
    return sys.executable


def warm_up(job_file: Path) -> int:
    """The background process: the filter's own engine for the clip's options, compiled, run once on a blank
    window of the clip's size; the marker written when it finished."""
    from ..options import Options
    from .formats import check_format
    from ..options import default_batch
    from .stages import make_engine

    _stand_aside()
    job = json.loads(job_file.read_text())
    key, info = job["key"], job["info"]
    marks = job_file.parent
    try:
        options = Options.from_filter_args({**job["options"], "compile": 1, "device": "cpu"})
        engine = make_engine(options, info, check_format(info))[0]
        batch = options.batch or default_batch("cpu", int(info["width"]), int(info["height"]))
        frames = torch.zeros(batch, 4, 3, int(info["height"]), int(info["width"]))
        engine.predict(frames, torch.full((batch,), 0.5, dtype=torch.float64))
        (marks / f"{key}.done").write_text(json.dumps(job))
        return 0
    except Exception as exc:       # recorded, not retried: the log beside it says why
        (marks / f"{key}.failed").write_text(f"{type(exc).__name__}: {exc}\n")
        raise
    finally:
        (marks / f"{key}.running").unlink(missing_ok=True)


def _stand_aside() -> None:
    """This process (and the compilers it starts) runs only where the CPU is otherwise idle: SCHED_IDLE
    on Linux, else nice 19."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(WARM_NICE)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="compile the learned part for a clip's size (the filter's "
                                     "background warm-up)")
    parser.add_argument("job", type=Path)
    return warm_up(parser.parse_args(argv).job)


if __name__ == "__main__":
    raise SystemExit(main())
