"""The run's log.csv (losses, learning rate, throughput, validations) and its plot."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from .plot import plot_log

FIELDS = ["step", "loss", "lr", "samples_per_s", "val_psnr", "val_gain", "val_min_gain", "val_detail", "elapsed_s"]


class RunLog:
    """Appends to log.csv; a resumed run first drops the rows past the step it resumes from."""

    def __init__(self, out: Path, step: int) -> None:
        self.path = out / "log.csv"
        new = not self.path.exists() or step == 0
        if not new:
            self._drop_rows_after(step)
        self.file = open(self.path, "w" if new else "a", newline="")
        self.writer = csv.DictWriter(self.file, FIELDS)
        if new:
            self.writer.writeheader()

    def _drop_rows_after(self, step: int) -> None:
        """A run resumed from an earlier checkpoint than its log's end must not keep the abandoned rows."""
        with open(self.path, newline="") as f:
            rows = list(csv.DictReader(f))
        kept = [r for r in rows if int(r["step"]) <= step]
        if len(kept) != len(rows):
            with open(self.path, "w", newline="") as f:
                writer = csv.DictWriter(f, FIELDS)
                writer.writeheader()
                writer.writerows(kept)

    def row(self, **values: Any) -> None:
        self.writer.writerow(values)
        self.file.flush()

    def plot(self) -> None:
        plot_log(self.path, self.path.parent / "progress.png")

    def close(self) -> None:
        self.file.close()
