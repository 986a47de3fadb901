r"""The EGNN model (:mod:`lps_geometric.nn.models.egnn`): the n-body protocol, E(3)
equivariance, training, invariant features and equivariant frames."""
import itertools

import pytest
import torch
from torch_geometric.utils import scatter

from lps_geometric.nn import EGNN

from ..rotations import TOL, orthogonal


def nbody_batch(num_graphs=3, num_nodes=5):
    edge_index = torch.tensor([(j, i) for i, j in itertools.permutations(
        range(num_nodes), 2)]).T
    edge_index = torch.cat([edge_index + g * num_nodes for g in range(num_graphs)], 1)
    N = num_graphs * num_nodes
    loc = torch.randn(N, 3, dtype=torch.double)
    vel = torch.randn(N, 3, dtype=torch.double)
    charge = torch.randint(0, 2, (N, 1)).double() * 2 - 1
    edge_attr = charge[edge_index[0]] * charge[edge_index[1]]
    batch = torch.arange(num_graphs).repeat_interleave(num_nodes)
    return loc, vel, charge, edge_index, edge_attr, batch



def test_egnn_nbody():
    loc, vel, _, edge_index, edge_attr, _ = nbody_batch()
    model = EGNN.from_nbody_protocol(hidden_channels=16).double()
    assert len(model.convs) == 4 and model.edge_dim == 1
    assert EGNN.NBODY_PROTOCOL == dict(hidden_channels=64, num_layers=4, lr=5e-4)
    speed = vel.norm(dim=-1, keepdim=True)
    h, pred, v = model(speed, loc, edge_index, vel.unsqueeze(1), edge_attr)
    assert h.shape == (15, 16) and pred.shape == (15, 3) and v.shape == (15, 1, 3)
    # E(3) equivariance of the prediction.
    Q, t = orthogonal(-1), torch.randn(3, dtype=torch.double)
    _, pred2, _ = model(speed, loc @ Q.T + t, edge_index, (vel @ Q.T).unsqueeze(1),
                        edge_attr)
    torch.testing.assert_close(pred2, pred @ Q.T + t, **TOL)
    # It trains.
    target = loc + 0.1 * vel
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        _, pred, _ = model(speed, loc, edge_index, vel.unsqueeze(1), edge_attr)
        loss = ((pred - target) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]



@pytest.mark.parametrize('in_channels', [0, 3])
def test_egnn_frames(in_channels):
    loc, _, _, edge_index, _, batch = nbody_batch()
    N = loc.size(0)
    model = EGNN(in_channels, hidden_channels=16, num_layers=2, vector_channels=1,
                 out_channels=8, out_vector_channels=3, update_pos=False,
                 normalize=True).double()
    x = torch.randn(N, 3, dtype=torch.double) if in_channels else None
    h, pos, vec = model(x, loc, edge_index)
    assert h.shape == (N, 8) and vec.shape == (N, 3, 3) and torch.equal(pos, loc)
    frames = scatter(vec, batch, dim=0, reduce='sum')             # (B, 3, 3)
    assert frames.shape == (3, 3, 3) and frames.abs().min() > 0
    Q, t = orthogonal(1), torch.randn(3, dtype=torch.double)
    h2, _, vec2 = model(x, loc @ Q.T + t, edge_index)
    torch.testing.assert_close(h2, h, **TOL)
    torch.testing.assert_close(scatter(vec2, batch, dim=0, reduce='sum'),
                               frames @ Q.T, **TOL)

