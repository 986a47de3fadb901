r"""The sampler contract: every sampler and frame is a Sampler and returns a GroupSample
with the per-graph layout (which input graph and node each copy is, and its weight)."""
import pytest
import torch

from lps_geometric.frames import FrameSampler
from lps_geometric.samplers import GroupSample, Sampler, build_sampler
from lps_geometric.testing import point_cloud_graph, random_batch
from lps_geometric.utils import replicate_batch
from torch_geometric.data import Batch

GRAPH_METHODS = ['lps', 'canonical', 'ga', 'exhaustive', 'fa', 'mfa']
CLOUD_METHODS = ['lps', 'canonical', 'ga', 'fa', 'mfa']


def graphs():
    return random_batch(sizes=(4, 3, 5), seed=0)


def clouds():
    torch.manual_seed(0)
    return Batch.from_data_list([point_cloud_graph(torch.randn(n, 3)) for n in (4, 6)])


def check_layout(sample: GroupSample, data):
    B, N = data.num_graphs, data.num_nodes
    assert sample.num_graphs == B and sample.num_nodes == N
    S = sample.num_stacked
    assert sample.graph_index.shape == (S,) and sample.weight.shape == (S,)
    assert sample.stacked.num_graphs == S
    assert sample.node_index.shape == (sample.stacked.num_nodes,)
    # weights sum to one over the copies of every graph
    total = torch.zeros(B, dtype=torch.float64).index_add_(
        0, sample.graph_index, sample.weight.double())
    assert torch.allclose(total, torch.ones(B, dtype=torch.float64))
    # every stacked node copies a node of the graph its stacked graph copies
    assert torch.equal(data.batch[sample.node_index],
                       sample.graph_index[sample.stacked.batch])
    assert sample.counts.sum() == S and sample.num_copies == S / B


@pytest.mark.parametrize('method', GRAPH_METHODS)
def test_every_graph_method_follows_the_contract(method):
    data = graphs()
    kwargs = {'in_channels': 3} if method in ('lps', 'canonical') else {}
    sampler = build_sampler(method, 'S_n', **kwargs)
    assert isinstance(sampler, Sampler)
    sample = sampler(data, 3)
    check_layout(sample, data)
    if sampler.draws_samples:
        assert sample.num_samples == 3 and sample.copies == 3
    else:
        assert sample.num_samples is None and sample.frame_size.shape == (3,)
    assert 'GroupSample(' in repr(sample) and len(repr(sample)) < 400


@pytest.mark.filterwarnings('ignore:.*ill-conditioned frame')
@pytest.mark.parametrize('method', CLOUD_METHODS)
@pytest.mark.parametrize('group', ['E(3)', 'S_n x E(3)'])
def test_every_cloud_method_follows_the_contract(method, group):
    data = clouds()
    kwargs = {'in_channels': 1} if method in ('lps', 'canonical') else {}
    sampler = build_sampler(method, group, **kwargs)
    assert isinstance(sampler, Sampler) and sampler.requires_pos
    assert isinstance(sampler, FrameSampler) == (not sampler.draws_samples)
    check_layout(sampler(data, 2), data)


def test_from_copies_builds_the_block_layout():
    data = graphs()
    stacked = replicate_batch(data, 2)
    sample = GroupSample.from_copies('g', stacked, 2, data.num_graphs)
    assert sample.copies == 2 and sample.num_samples == 2
    assert sample.graph_index.tolist() == [0, 1, 2, 0, 1, 2]
    assert torch.equal(sample.node_index, torch.arange(data.num_nodes).repeat(2))
    assert torch.allclose(sample.weight, torch.full((6,), 0.5, dtype=torch.float64))
    check_layout(sample, data)


def test_input_requirements_follow_the_declarations():
    assert build_sampler('ga', 'S_n').input_requirements() == dict(
        require_pos=False, node_channels=None, pos_dim=None, complex_pos=False)
    needs = build_sampler('lps', 'E(3)', in_channels=2).input_requirements()
    assert needs == dict(require_pos=True, node_channels=2, pos_dim=3, complex_pos=False)
    assert build_sampler('mfa', 'U(2)').input_requirements()['complex_pos'] is True


def test_the_base_forward_is_abstract():
    with pytest.raises(NotImplementedError):
        Sampler()(graphs(), 1)


def test_requirements_of_a_sampler_of_ones_own():
    from lps_geometric.samplers import sampler_requirements

    class Own(torch.nn.Module):
        requires_pos, in_channels = True, 5

    assert sampler_requirements(Own()) == dict(require_pos=True, node_channels=5,
                                               pos_dim=3, complex_pos=False)
    assert sampler_requirements(torch.nn.Identity())['node_channels'] is None


def test_from_copies_refuses_a_stack_that_is_not_k_blocks():
    data = graphs()
    with pytest.raises(ValueError, match="'num_copies'"):
        GroupSample.from_copies('g', replicate_batch(data, 2), 0, data.num_graphs)
    with pytest.raises(ValueError, match='k B graphs'):
        GroupSample.from_copies('g', replicate_batch(data, 2), 3, data.num_graphs)
