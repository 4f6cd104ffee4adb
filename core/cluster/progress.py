"""A Ray actor the workers report to and the driver reads: which worker has which piece, frames done,
how many pieces started more than once (retries)."""
from __future__ import annotations

from typing import Any

import ray


@ray.remote
class ProgressBoard:
    def __init__(self) -> None:
        self.pieces: dict[str, dict[str, Any]] = {}
        self.retries = 0

    def started(self, key: str, worker: str, pid: int) -> None:
        if key in self.pieces:
            self.retries += 1
        self.pieces[key] = {"worker": worker, "pid": pid, "frames": 0}

    def update(self, key: str, frames: int, total: int) -> None:
        if key in self.pieces:
            self.pieces[key].update(frames=frames, total=total)

    def finished(self, key: str) -> None:
        if key in self.pieces:
            self.pieces[key]["finished"] = True

    def snapshot(self) -> dict[str, Any]:
        return {"pieces": {k: dict(v) for k, v in self.pieces.items()}, "retries": self.retries}
