"""filter/host_memory.py: a pass's freed temporaries are reused, not faulted in again (each check in its own
process: the setting is the process's)."""
from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

# an engine on the CPU (which sets it), four passes of a 640x360 window: the page faults of the later ones
PROBE = """
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
print(host_memory._done, min(faults[2:]))
"""


def probe(**env: str) -> tuple[bool, int]:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True,
                         env={**os.environ, **env}, timeout=300).stdout.split()
    return out[-2] == "True", int(out[-1])


@pytest.mark.slow
@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
def test_a_pass_reuses_the_memory_the_last_one_freed_unless_the_user_says_no():
    """Measured: 0-3 page faults a pass kept, 46-69 thousand with CONVLSTM_KEEP_MEMORY=0 (each page of a
    pass's temporaries faulted in and zeroed again)."""
    kept, faults = probe()
    assert kept and faults < 1000, faults
    kept, faults = probe(CONVLSTM_KEEP_MEMORY="0")
    assert not kept and faults > 10000, faults
