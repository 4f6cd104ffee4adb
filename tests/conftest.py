import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import torch  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def test_weights(tmp_path_factory):
    from helpers import random_weights
    return random_weights(tmp_path_factory.mktemp("weights") / "random.pt")


@pytest.fixture(scope="session")
def fusion_weights(tmp_path_factory):
    from helpers import TINY2, random_weights
    return random_weights(tmp_path_factory.mktemp("weights") / "random_scales2.pt", TINY2)
