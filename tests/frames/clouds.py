r"""Point clouds and symmetrized models shared by the tests of the point-cloud frames."""
import torch
from torch_geometric.data import Batch, Data

from lps_geometric.groups import EuclideanGroup, OrthogonalGroup
from lps_geometric.nn import Symmetrize
from lps_geometric.testing import OrderedMLP

GROUPS = [(False, False), (True, False), (False, True), (True, True)]  # special, transl.
EMPTY = torch.empty(2, 0, dtype=torch.long)


def group_of(dim, special, translation):
    cls = EuclideanGroup if translation else OrthogonalGroup
    return cls(dim, special=special)


def cloud_batch(dim=3, sizes=(5, 7, 4), dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return Batch.from_data_list([
        Data(pos=torch.randn(n, dim, generator=gen, dtype=dtype),
             x=torch.randn(n, 2, generator=gen, dtype=dtype),
             edge_index=torch.empty(2, 0, dtype=torch.long)) for n in sizes])


def model(sampler, dim, output, dtype=torch.float64, max_nodes=7):
    level = 'graph' if output == 'scalar' else 'node'
    out_channels = 3 if output == 'scalar' else dim
    backbone = OrderedMLP(dim + 2, out_channels, max_nodes, keys=('pos', 'x'),
                          level=level).to(dtype)
    return Symmetrize(backbone, sampler, output=output).eval()


def cloud(pos, x_dim=1):
    return Data(pos=pos, x=torch.ones(pos.size(0), x_dim, dtype=pos.dtype),
                edge_index=EMPTY)


def frame_and_plain_outputs(sampler):
    r"""``(plain, symmetrized)`` graph outputs of an E(3)-equivariant EGNN backbone on
    two clouds, alone and averaged over ``sampler``'s frames (equal for an exact
    frame)."""
    from torch_geometric.utils import scatter
    from lps_geometric.nn import EGNN
    torch.manual_seed(0)
    data = cloud_batch(sizes=(5, 6))
    data.x = data.x.float()
    data.pos = data.pos.float()
    data.edge_index = torch.tensor([[0, 1, 2, 1], [1, 0, 1, 2]])
    egnn = EGNN(2, hidden_channels=16, num_layers=2, out_channels=3).eval()

    class Backbone(torch.nn.Module):
        level = 'graph'

        def forward(self, batch):
            h, _, _ = egnn(batch.x, batch.pos, batch.edge_index)
            return scatter(h, batch.batch, dim=0, reduce='sum')

    return Backbone()(data), Symmetrize(Backbone(), sampler).eval()(data)

