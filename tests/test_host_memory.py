"""filter/host_memory.py: a pass's freed temporaries are reused, not faulted in again (each check in its own
process: the setting is the process's, and cannot be undone there)."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# an engine on the CPU (which sets it), four passes of a 640x360 window in fp32: the later ones' page faults
PASSES = """
import resource, torch
from convlstm.checkpoint import load_weights
from convlstm.filter import host_memory
from convlstm.filter.engine import Engine
engine = Engine(load_weights(None)[0], torch.device("cpu"))
torch.manual_seed(0)
window = torch.rand(1, 4, 3, 360, 640) * 2 - 1
faults = []
for _ in range(4):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    engine.predict(window, 0.5)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(host_memory.keep_freed_memory(), min(faults[2:]))
"""
ASK = "from convlstm.filter.host_memory import keep_freed_memory as k; print(k(), k())"


def run(code: str, **env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("CONVLSTM_KEEP_MEMORY", "MALLOC_TRIM_THRESHOLD_",
                                                               "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**clean, **env}, timeout=300).stdout.split()


def transparent_huge_pages_always() -> bool:
    path = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    return path.exists() and "[always]" in path.read_text()


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_the_setting_is_asked_once_and_the_user_can_say_no():
    assert run(ASK) == ["True", "True"]
    for env in ({"CONVLSTM_KEEP_MEMORY": "0"}, {"CONVLSTM_KEEP_MEMORY": "Off"}, {"CONVLSTM_KEEP_MEMORY": "false"},
                {"MALLOC_TRIM_THRESHOLD_": "1048576"}, {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1048576"}):
        assert run(ASK, **env) == ["False", "False"], env       # the user's own choice stands
    assert run(ASK, GLIBC_TUNABLES="glibc.cpu.x86_ibt=off") == ["True", "True"]     # not malloc's


@pytest.mark.slow
@pytest.mark.skipif(not GLIBC or os.sysconf("SC_PAGE_SIZE") != 4096 or transparent_huge_pages_always(),
                    reason="glibc's malloc, counted in 4 KiB page faults")
def test_a_pass_reuses_the_memory_the_last_one_freed_unless_the_user_says_no():
    """Measured here: 0-3 page faults a pass kept, 46-69 thousand with CONVLSTM_KEEP_MEMORY=0 (each page of
    a pass's temporaries faulted in and zeroed again; fp32, all threads)."""
    kept, kept_faults = run(PASSES)
    off, off_faults = run(PASSES, CONVLSTM_KEEP_MEMORY="0")
    assert (kept, off) == ("True", "False")
    assert int(off_faults) > 20 * max(int(kept_faults), 50), (kept_faults, off_faults)
