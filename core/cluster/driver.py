"""The driver of a cluster run: plans the pieces of every input, hands them to Ray as tasks (one GPU each
when the cluster has GPUs), shows one progress bar, joins each input's pieces with its audio, subtitles and
tags, and resumes from finished pieces (checked by hash) after an interruption.

Pieces live in OUT_DIR/.<stem>.convlstm-pieces/ (cluster/pieces.py) with a manifest of their hashes and
of the settings they were made with (the source's fingerprint and the weights' hash among them); what the
run wrote there is removed once the output is complete. Workers must see the inputs and OUT_DIR at the
same paths (one machine, or a shared file system): every path is made absolute before it reaches them.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import time
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

from ..checkpoint import file_sha256, weights_file
from ..errors import UsageError
from ..files.atomic import partial_file
from ..files.encode import join
from ..files.output import Encoding, check_output, encode_plan, outputs_for
from ..files.probe import probe
from ..files.source import expand_inputs, prepare_source
from ..options import Options
from .chunks import CONTEXT, DEDUP_CONTEXT, Chunk, plan_chunks
from .pieces import PiecesFolder, source_fingerprint
from .worker import Job, PieceResult, render_piece

log = logging.getLogger("convlstm")

MAX_RETRIES = 2          # a piece whose worker dies is tried again this many times, elsewhere if possible


class ClusterError(RuntimeError):
    """A piece that failed on every try, or a cluster that cannot be reached."""


@dataclass
class InputPlan:
    source: Path
    output: Path
    container: str
    job: Job
    chunks: list[Chunk]
    pieces: PiecesFolder
    settings: str                                  # hash of what makes a piece (source, job, weights, plan)
    done: dict[int, PieceResult] = field(default_factory=dict)
    force: bool = False                            # the output may replace a file that appeared meanwhile
    finished: bool = False


@dataclass
class Summary:
    outputs: list[Path]
    pieces: int
    reused: int
    retries: int
    frames: int
    seconds: float
    per_worker: dict[str, tuple[int, float]]       # worker -> (frames, seconds of work)


def require_ray():
    try:
        import ray
    except ImportError:
        raise UsageError("--cluster needs Ray: pip install 'vapoursynth-convlstm[cluster]' (or pip install ray)") \
            from None
    return ray


def scene_starts(clip, threshold: float) -> list[int]:
    """Source frames that start a new scene, by the filter's rule on small copies of the frames (a block
    at a time: a film's frames do not all fit in memory)."""
    import numpy as np

    from ..data.video_folder import cut_flags
    from ..video import frames_of, to_rgb24
    small = to_rgb24(clip.resize.Bilinear(width=min(clip.width, 160) // 2 * 2,
                                          height=min(clip.height, 90) // 2 * 2))
    starts: list[int] = []
    for k in range(0, clip.num_frames - 1, 256):
        block = frames_of(small.std.Trim(k, min(clip.num_frames - 1, k + 256)))
        starts += [k + int(j) + 1 for j in np.flatnonzero(cut_flags(block, threshold))]
    return starts


def plan_input(src: Path, out: Path, options: Options, encoding: Encoding, assume_progressive: bool,
               chunk_frames: int) -> InputPlan:
    factor = options.whole_factor()
    prepared = prepare_source(src, Fraction(factor), assume_progressive, cache_index=True)
    if prepared.timestamps is not None:
        raise UsageError(f"{str(src)!r} has a variable frame rate: --cluster joins pieces at a constant rate; "
                         "run it without --cluster, which keeps its timestamps")
    container = check_output(src, out, force=True)
    # what the one-machine route decides from the source and the container (the pieces are NUT), decided here
    from ..video import colour_of
    whole = encode_plan(prepared, probe(src), container, encoding, colour_of(prepared.clip))
    job = Job(str(src.resolve()), options, replace(encoding, codec=whole.codec, pix_fmt=whole.pix_fmt,
                                                   profile=whole.profile), assume_progressive)
    chunks = plan_chunks(prepared.clip.num_frames, scene_starts(prepared.clip, options.sc), chunk_frames,
                         DEDUP_CONTEXT if options.dedup else CONTEXT)
    settings = hashlib.sha256(json.dumps({"source": source_fingerprint(src), "job": asdict(job),
                                          "weights": weights_id(options.weights),
                                          "chunks": [asdict(c) for c in chunks]}, sort_keys=True).encode()).hexdigest()
    return InputPlan(src, out, container, job, chunks, PiecesFolder(out), settings)


def weights_id(weights: str | None) -> str:
    """The weights a piece was made with, by content (the bundled default included)."""
    path = weights_file(weights)
    return file_sha256(path) if path is not None else str(weights)


def absolute(options: Options) -> Options:
    """Options whose weights path means the same on a worker with another working folder (checked here,
    once, rather than on every piece)."""
    from ..checkpoint import BUNDLED, UNTRAINED, not_a_weights_file
    if not options.weights or options.weights in BUNDLED or options.weights == UNTRAINED:
        return options
    path = weights_file(options.weights)
    problem = not_a_weights_file(path)
    if problem:
        raise UsageError(problem)
    return options.updated(weights=str(path.resolve()))


def record(plan: InputPlan) -> None:
    plan.pieces.record(plan.settings, plan.source, plan.done)


def finish(plan: InputPlan) -> None:
    """Joins the pieces into the output (a partial file renamed when complete) and removes the pieces."""
    from ..video import colour_of
    # opened again (bestsource's index is cached): a folder's sources are not all held open during the run
    prepared = prepare_source(plan.source, Fraction(plan.job.factor), plan.job.assume_progressive, cache_index=True)
    encoded = encode_plan(prepared, probe(plan.source), plan.container, plan.job.encoding, colour_of(prepared.clip))
    encoded.copy_video = True
    fps = prepared.clip.fps * plan.job.factor
    with partial_file(plan.output, replace=plan.force) as partial:
        join([(Path(plan.done[c.index].path), float(plan.done[c.index].frames / fps)) for c in plan.chunks],
             partial.fileno(), encoded)
    for note in encoded.notes:
        log.warning("%s: %s", plan.output.name, note)
    plan.pieces.remove()
    plan.finished = True


def run_cluster(inputs: list[str], out_dir: str | Path, options: Options = Options(),
                encoding: Encoding = Encoding(), *, address: str | None = None, ext: str = ".mkv",
                force: bool = False, assume_progressive: bool = False, chunk_frames: int | None = None,
                progress: bool = True, on_progress: Callable[[dict[str, Any]], None] | None = None,
                workers: int | None = None) -> Summary:
    """Every input through the cluster at ``address`` (None: a local Ray instance on this machine;
    "auto" or "ray://host:port": an existing cluster). ``options`` must ask for a whole factor.
    ``on_progress`` sees the workers' state as it changes (piece -> worker, frames done), for callers that
    watch the run. ``workers``: CPU workers of a local instance (default: one per core)."""
    from .chunks import CHUNK_FRAMES
    ray = require_ray()
    out_dir = Path(out_dir).resolve()
    options = absolute(options)
    if options.whole_factor() is None:
        raise UsageError("--cluster takes a whole --factor (pieces are joined at a whole multiple of the rate)")
    sources = expand_inputs(inputs)
    outputs = outputs_for(sources, out_dir, ext)
    out_dir.mkdir(parents=True, exist_ok=True)
    for src, out in zip(sources, outputs):
        check_output(src, out, force)
    plans = [plan_input(s, o, options, encoding, assume_progressive, chunk_frames or CHUNK_FRAMES)
             for s, o in zip(sources, outputs)]
    for plan in plans:
        plan.force = force
    try:
        for plan in plans:   # before Ray starts: a folder in the way stops the run at once
            plan.pieces.open()
        return _on_ray(ray, plans, address, workers, progress, on_progress)
    finally:
        for plan in plans:
            plan.pieces.close()


def _on_ray(ray, plans: list[InputPlan], address: str | None, workers: int | None, progress: bool,
            on_progress) -> Summary:
    """The run on the cluster at ``address`` (None: a local instance started here, and stopped after)."""
    started_here = not ray.is_initialized()
    if started_here:
        if address and workers:
            raise UsageError("--workers sizes a local Ray instance; an existing cluster has its own")
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 **({} if address else {"num_cpus": workers or os.cpu_count()}))
        for sig, handler in handlers.items():   # Ray's core installs its own (SIGTERM aborted with a stack dump)
            if handler is not None:
                signal.signal(sig, handler)
    try:
        return _run(ray, plans, progress, on_progress, cancel=not started_here)
    finally:
        if started_here:
            ray.shutdown()   # stops this instance's workers, their tasks with them


def _run(ray, plans: list[InputPlan], progress: bool, on_progress, cancel: bool = True) -> Summary:
    """``cancel``: on an interruption, force-cancel the pending tasks (on someone else's cluster, where they
    would run on). A local instance is shut down instead: force-cancelling a task while its reply arrives
    can trip an internal check of Ray's and end the driver with status 1 instead of the user's Ctrl-C
    (ray-project/ray#54798 fixed one such race)."""
    from tqdm import tqdm

    from .progress import ProgressBoard
    start = time.perf_counter()
    board = ProgressBoard.options(num_cpus=0).remote()
    pending, reused = _submit(ray, plans, board)
    total = sum(c.frames for p in plans for c in p.chunks) * (plans[0].job.factor if plans else 1)
    finished_frames = sum(p.done[c].frames for p in plans for c in p.done)
    bar = tqdm(total=total, initial=finished_frames, unit="frame", desc="cluster", dynamic_ncols=True,
               disable=not progress)
    try:
        while pending:
            finished_frames += _collect(ray, pending, board, bar, finished_frames, on_progress)
        for plan in plans:   # inputs whose pieces were all reused
            if not plan.finished and len(plan.done) == len(plan.chunks):
                finish(plan)
    except BaseException:
        if cancel:
            for ref in pending:
                ray.cancel(ref, force=True)
        raise
    finally:
        bar.n = finished_frames
        bar.close()
    return _summary(plans, reused, ray.get(board.snapshot.remote())["retries"], total, time.perf_counter() - start)


def _submit(ray, plans: list[InputPlan], board) -> tuple[dict[Any, tuple[InputPlan, Chunk]], int]:
    """Every piece not reusable from an earlier run, as a Ray task (one GPU each where the cluster has
    GPUs); returns the pending tasks and how many pieces were reused."""
    gpus = ray.cluster_resources().get("GPU", 0) > 0
    task = ray.remote(_task).options(num_gpus=1 if gpus else 0, num_cpus=1,
                                     max_retries=MAX_RETRIES, retry_exceptions=False)
    pending: dict[Any, tuple[InputPlan, Chunk]] = {}
    reused = 0
    for plan in plans:
        plan.done = plan.pieces.reusable(plan.settings)
        reused += len(plan.done)
        record(plan)
        for chunk in plan.chunks:
            if chunk.index not in plan.done:
                target = plan.pieces.piece(chunk.index)
                pending[task.remote(plan.job, chunk, str(target), board, f"{plan.output.name}#{chunk.index}")] = \
                    (plan, chunk)
    return pending, reused


def _collect(ray, pending: dict[Any, tuple[InputPlan, Chunk]], board, bar, finished_frames: int,
             on_progress) -> int:
    """Waits briefly for a piece, shows progress, records what finished (joining an input whose pieces are
    all done); returns the frames of the pieces that finished."""
    ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
    state = ray.get(board.snapshot.remote())
    if on_progress is not None:
        on_progress(state)
    running = sum(v["frames"] for v in state["pieces"].values() if not v.get("finished"))
    bar.n = finished_frames + running
    bar.set_postfix(workers=len({v["worker"] for v in state["pieces"].values() if not v.get("finished")}),
                    refresh=False)   # drawn once, by the refresh below
    bar.refresh()
    frames = 0
    for ref in ready:
        plan, chunk = pending.pop(ref)
        try:
            piece = ray.get(ref)
        except Exception as exc:   # every try failed: name the piece
            raise ClusterError(f"{plan.source.name}: piece {chunk.index} (source frames {chunk.first}-"
                               f"{chunk.last}) failed after {MAX_RETRIES + 1} tries: "
                               f"{str(exc).strip().splitlines()[-1]}") from None
        plan.done[chunk.index] = piece
        frames += piece.frames
        ray.get(board.finished.remote(f"{plan.output.name}#{chunk.index}"))
        record(plan)
        if len(plan.done) == len(plan.chunks):
            finish(plan)
    return frames


def _summary(plans: list[InputPlan], reused: int, retries: int, total: int, seconds: float) -> Summary:
    per_worker: dict[str, tuple[int, float]] = {}
    for plan in plans:
        for piece in plan.done.values():
            frames, work = per_worker.get(piece.worker, (0, 0.0))
            per_worker[piece.worker] = (frames + piece.frames, work + piece.seconds)
    return Summary([p.output for p in plans], sum(len(p.chunks) for p in plans), reused, retries, total, seconds,
                   per_worker)


def _task(job: Job, chunk: Chunk, target: str, board, key: str) -> PieceResult:
    """A Ray task: one piece, its progress reported to the board (a retried piece starts again at 0)."""
    import socket
    worker = f"{socket.gethostname()}:{os.getpid()}"
    board.started.remote(key, worker, os.getpid())
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] > 0.5:
            last[0] = now
            board.update.remote(key, done, total)
    return render_piece(job, chunk, target, report)
