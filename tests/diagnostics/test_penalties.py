r"""The equivariance penalties: zero for equivariant models, positive for relaxed ones,
the Lie derivative equal to a finite-difference estimate."""
import pytest
import torch
from torch import nn

from lps_geometric.diagnostics.penalties import (group_difference_penalty,
                                                 lie_derivative_penalty, lie_derivatives,
                                                 rotation_generators)
from lps_geometric.nn import EGNN, MPNN, relax, set_relaxation
from lps_geometric.testing import point_cloud_graph, random_batch


class PositionHead(nn.Module):
    r"""EGNN positions of a point cloud (E(3)-equivariant) or its pooled scalars."""
    def __init__(self, output='position'):
        super().__init__()
        torch.manual_seed(0)
        self.egnn = EGNN(1, 16, 2, vector_channels=1, out_vector_channels=1,
                         update_pos=True).double()
        self.output = output

    def forward(self, data):
        h, pos, vec = self.egnn(data.x, data.pos, data.edge_index,
                                vec=data.vel.unsqueeze(1))
        return pos if self.output == 'position' else h.sum(dim=0, keepdim=True)


def cloud():
    g = torch.Generator().manual_seed(0)
    data = point_cloud_graph(torch.randn(6, 3, generator=g, dtype=torch.float64))
    data.vel = torch.randn(6, 3, generator=g, dtype=torch.float64)
    return data


@pytest.mark.parametrize('output', ['position', 'scalar'])
def test_an_equivariant_model_has_no_lie_derivative(output):
    model = PositionHead(output)
    assert float(lie_derivative_penalty(model, cloud(), output).detach()) < 1e-20


def test_the_lie_derivative_matches_finite_differences():
    model = relax(PositionHead(), coefficient=0.3)
    data = cloud()
    derivative = lie_derivatives(model, data, 'position', create_graph=False)
    eps = 1e-6
    for k, A in enumerate(rotation_generators(torch.float64)):
        def moved(t):
            out = data.clone()
            rotation = torch.linalg.matrix_exp(t * A)
            out.pos, out.vel = data.pos @ rotation.T, data.vel @ rotation.T
            with torch.no_grad():
                return model(out) @ torch.linalg.matrix_exp(-t * A).T
        estimate = (moved(eps) - moved(-eps)) / (2 * eps)
        assert torch.allclose(derivative[k], estimate, atol=1e-6, rtol=1e-5)
    for k, e in enumerate(torch.eye(3, dtype=torch.float64)):
        def shifted(t):
            out = data.clone()
            out.pos = data.pos + t * e
            with torch.no_grad():
                return model(out) - t * e
        estimate = (shifted(eps) - shifted(-eps)) / (2 * eps)
        assert torch.allclose(derivative[3 + k], estimate, atol=1e-6, rtol=1e-5)


def test_the_lie_penalty_grows_with_the_coefficient_and_trains_the_term():
    model = relax(PositionHead(), coefficient=0.01)
    data = cloud()
    small = float(lie_derivative_penalty(model, data, 'position').detach())
    set_relaxation(model, 0.1)
    penalty = lie_derivative_penalty(model, data, 'position')
    assert float(penalty.detach()) > 10 * small > 0
    penalty.backward()
    terms = [p for name, p in model.named_parameters() if '.term.' in name]
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in terms)


def test_the_group_difference_penalty_for_permutations():
    data = random_batch(sizes=(5, 6), seed=0)
    model = MPNN(3, 2, hidden_channels=16, num_layers=2, level='node').eval()
    g = torch.Generator().manual_seed(0)
    assert float(group_difference_penalty(model, data, 'S_n', generator=g).detach()) < 1e-10
    relax(model, coefficient=0.5)
    penalty = group_difference_penalty(model, data, 'S_n', num_samples=2,
                                       generator=torch.Generator().manual_seed(0))
    assert float(penalty.detach()) > 1e-4
    penalty.backward()


def test_bad_arguments_are_refused():
    data = random_batch(sizes=(4,), seed=0)
    with pytest.raises(ValueError, match="'pos'"):
        lie_derivative_penalty(nn.Identity(), data)
    with pytest.raises(ValueError, match="'output'"):
        lie_derivative_penalty(PositionHead(), cloud(), output='tensor')
    with pytest.raises(ValueError, match="'num_samples'"):
        group_difference_penalty(nn.Identity(), data, num_samples=0)
