import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import torch  # noqa: E402

torch.set_num_threads(2)

# the package's cache (compiled code, adapted weights) in a folder of this run's own, and no background
# compile started by a long clip (filter/compiling.py): the tests of those set their own
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="convlstm-tests-cache-")
atexit.register(shutil.rmtree, os.environ["XDG_CACHE_HOME"], ignore_errors=True)
os.environ["CONVLSTM_NO_WARM_UP"] = "1"


@pytest.fixture(scope="session")
def test_weights(tmp_path_factory):
    from helpers import random_weights
    return random_weights(tmp_path_factory.mktemp("weights") / "random.pt")


@pytest.fixture(scope="session")
def fusion_weights(tmp_path_factory):
    from helpers import TINY2, random_weights
    return random_weights(tmp_path_factory.mktemp("weights") / "random_scales2.pt", TINY2)
