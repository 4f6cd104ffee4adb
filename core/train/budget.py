"""--time-budget: fit the cosine schedule to the wall time there is, so a run ends annealed, not cut off."""
from __future__ import annotations

import logging
import time
from typing import Callable

log = logging.getLogger("convlstm")
PROBE_SKIP, PROBE_STEPS = 10, 40   # the first steps pay for worker start-up and kernel tuning


def fit_total_to_budget(step: int, end: int, seconds_per_step: float, seconds_left: float) -> int:
    """The last step that still fits the time left (5 % kept back for the final save and validation)."""
    return max(step + 1, min(end, step + int(0.95 * seconds_left / max(seconds_per_step, 1e-9))))


class TimeBudget:
    """Measures the step time after PROBE_STEPS steps and again at half time (validations included
    then), and moves the schedule's end to what fits. Always fitted against the run's own bound, never the
    last fit: a slow first probe (a busy machine) must not stick."""

    def __init__(self, seconds: float, run_start: float, first_step: int, end: int,
                 clock: Callable[[], float] = time.time) -> None:
        if seconds <= 0:
            raise ValueError(f"the time budget must be positive, got {seconds} s")
        self.seconds, self.run_start, self.first_step, self.bound = seconds, run_start, first_step, end
        self.clock = clock   # injectable: a test drives the budget with a clock of its own, exactly
        self.probe_time: float | None = None
        self.refits = 0

    def refit(self, step: int) -> int | None:
        """Called after every step; returns the new last step when it refits, else None."""
        now = self.clock()
        if step == self.first_step + PROBE_SKIP:
            self.probe_time = now
            return None
        if self.probe_time is None:
            return None
        measured = step - self.first_step - PROBE_SKIP
        if (self.refits == 0 and step == self.first_step + PROBE_STEPS) or \
                (self.refits == 1 and now - self.run_start > self.seconds / 2):
            self.refits += 1
            per_step = (now - self.probe_time) / measured
            end = fit_total_to_budget(step, self.bound, per_step, self.seconds - (now - self.run_start))
            log.info("time budget: %.2f s per step, the schedule now ends at step %d", per_step, end)
            return end
        return None

    def spent(self) -> bool:
        return self.clock() - self.run_start > self.seconds
