r"""Every method of :func:`~lps_geometric.samplers.build_sampler` (the frames included)
runs through :meth:`Symmetrize.from_method`, and the factory's refusals."""
import pytest
import torch
from torch_geometric.data import Batch, Data

from lps_geometric.groups import OrthogonalGroup
from lps_geometric.nn import Symmetrize
from lps_geometric.samplers import METHODS, build_sampler
from lps_geometric.testing import OrderedMLP

pytest.importorskip('pynauty')


@pytest.mark.parametrize('method', METHODS)
@pytest.mark.parametrize('group', ['S_n', 'E(3)', 'SO(3)', 'S_n x E(3)'])
def test_every_method_runs_through_symmetrize(method, group):
    torch.manual_seed(0)
    if method == 'exhaustive' and group != 'S_n':
        with pytest.raises(ValueError):
            build_sampler(method, group)
        return
    gen = torch.Generator().manual_seed(0)
    graphs = []
    for n in (4, 5):
        pos = torch.randn(n, 3, generator=gen)
        ei = torch.tensor([[i, (i + 1) % n] for i in range(n)]).t()
        graphs.append(Data(pos=pos, x=torch.randn(n, 2, generator=gen),
                           edge_index=torch.cat([ei, ei.flip(0)], dim=1)))
    data = Batch.from_data_list(graphs)
    backbone = OrderedMLP(5, 2, max_nodes=5, keys=('pos', 'x'))
    model = Symmetrize.from_method(backbone, method, group, in_channels=2,
                                   num_samples=2)
    out = model(data)
    assert out.shape == (2, 2) and torch.isfinite(out).all()
    out.sum().backward()


def test_build_sampler_errors():
    with pytest.raises(ValueError, match='Unknown method'):
        build_sampler('magic', 'S_n')
    with pytest.raises(ValueError, match='in_channels'):
        build_sampler('lps', 'S_n')
    with pytest.raises(ValueError, match='mfa'):
        build_sampler('fa', 'O(1,3)')
    with pytest.raises(ValueError, match='Unknown group'):
        build_sampler('mfa', 'GL(3)')
    assert isinstance(build_sampler('mfa', 'S_n (sets)'), torch.nn.Module)
    assert isinstance(OrthogonalGroup(3), OrthogonalGroup)
