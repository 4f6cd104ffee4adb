"""filter/host_memory.py: a pass's freed temporaries are reused, not faulted in again (each check in its own
process: the setting is the process's)."""
from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

# allocates, touches and frees a 24 MiB block twice, then prints the page faults of the second time
PROBE = """
import resource, sys, torch
from convlstm.filter.host_memory import keep_freed_memory
kept = keep_freed_memory()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
x = torch.ones(6 << 20); del x
before = faults()
x = torch.ones(6 << 20); del x
print(kept, faults() - before)
"""

glibc = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                           reason="glibc's malloc only")


def probe(**env: str) -> tuple[bool, int]:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True,
                         env={**os.environ, **env}, timeout=120).stdout.split()
    return out[0] == "True", int(out[1])


@glibc
def test_freed_blocks_are_reused_without_page_faults():
    """Without the setting a 24 MiB block is mapped afresh each time (6144 pages faulted in); with it the
    second block is the first one's memory."""
    kept, faults = probe()
    assert kept and faults < 100, faults
    kept, faults = probe(CONVLSTM_KEEP_MEMORY="0")
    assert not kept and faults > 3000, faults


@glibc
def test_a_cpu_engine_keeps_freed_memory_and_a_user_can_say_no():
    code = ("import torch; from convlstm.filter.engine import Engine; from convlstm.model import Net; "
            "from convlstm.config import ModelConfig; from convlstm.filter import host_memory; "
            "Engine(Net(ModelConfig()), torch.device('cpu')); print(host_memory._done)")
    for env, expected in (({}, "True"), ({"CONVLSTM_KEEP_MEMORY": "0"}, "False")):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={**os.environ, **env}, timeout=120).stdout.split()
        assert out[-1] == expected, out
