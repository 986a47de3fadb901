import pytest
import torch

from lps_geometric.testing import random_batch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(12345)
    yield


@pytest.fixture
def batch():
    return random_batch()
