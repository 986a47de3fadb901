r"""The shapes of :mod:`lps_geometric.testing.shapes`: every polyhedron and polygon
has the symmetry group its docstring names (counted as the automorphisms of its
edge skeleton by nauty), the isotropic ones have a scalar second moment, and the nearly
degenerate clouds are as close to degenerate as asked."""
import math

import pytest
import torch

from lps_geometric.testing import (cube, icosahedron, nearly_collinear, nearly_planar,
                                   octahedron, regular_polygon, symmetric_graph,
                                   tetrahedron)

pynauty = pytest.importorskip('pynauty')


def skeleton_automorphisms(points) -> float:
    r"""Automorphisms of the graph joining the nearest pairs of points: for these convex
    shapes, the size of their symmetry group in O(3)."""
    dist = torch.cdist(points, points)
    nearest = dist[dist > 1e-9].min()
    close = (dist - nearest).abs() < 1e-9
    n = points.size(0)
    adjacency = {v: close[v].nonzero().view(-1).tolist() for v in range(n)}
    _, size, exponent, _, _ = pynauty.autgrp(pynauty.Graph(n, adjacency_dict=adjacency))
    return size * 10 ** exponent


@pytest.mark.parametrize('build, n, aut', [
    (tetrahedron, 4, 24), (cube, 8, 48), (octahedron, 6, 48), (icosahedron, 12, 120),
], ids=['tetrahedron', 'cube', 'octahedron', 'icosahedron'])
def test_polyhedra(build, n, aut):
    points = build()
    assert points.shape == (n, 3) and points.dtype == torch.float64
    radius = points.norm(dim=1)
    assert torch.allclose(radius, radius[0].expand(n))       # on one sphere
    assert torch.allclose(points.mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-12)
    assert skeleton_automorphisms(points) == aut
    assert build(dtype=torch.float32).dtype == torch.float32


@pytest.mark.parametrize('build', [octahedron, icosahedron, cube, tetrahedron])
def test_platonic_second_moments_are_isotropic(build):
    points = build()
    moment = points.T @ points
    assert torch.allclose(moment, moment[0, 0] * torch.eye(3, dtype=torch.float64),
                          atol=1e-12)


def test_icosahedron_vertices_have_five_neighbours():
    points = icosahedron()
    dist = torch.cdist(points, points)
    nearest = dist[dist > 0].min()
    assert torch.isclose(nearest, torch.tensor(2.0, dtype=torch.float64))
    assert ((dist - nearest).abs() < 1e-9).sum(1).tolist() == [5] * 12


@pytest.mark.parametrize('n', [3, 5, 8])
def test_regular_polygon(n):
    points = regular_polygon(n)
    assert points.shape == (n, 3) and bool((points[:, 2] == 0).all())
    assert torch.allclose(points.norm(dim=1), torch.ones(n, dtype=torch.float64))
    sides = (points - points.roll(1, 0)).norm(dim=1)
    assert torch.allclose(sides, torch.full((n,), 2 * math.sin(math.pi / n),
                                            dtype=torch.float64))
    assert skeleton_automorphisms(points) == 2 * n
    assert regular_polygon(n, dim=2).shape == (n, 2)


def test_nearly_collinear():
    generator = torch.Generator().manual_seed(0)
    points = nearly_collinear(50, eps=1e-3, generator=generator)
    assert points.shape == (50, 3)
    assert 2e-4 < float(points[:, 1:].std()) < 5e-3
    assert torch.allclose(points[:, 0], torch.linspace(-1, 1, 50, dtype=torch.float64),
                          atol=1e-2)
    exact = nearly_collinear(4, eps=0.0)
    assert bool((exact[:, 1:] == 0).all())
    again = nearly_collinear(50, eps=1e-3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(points, again)


def test_nearly_planar():
    points = nearly_planar(200, eps=1e-3, generator=torch.Generator().manual_seed(1))
    assert points.shape == (200, 3)
    assert 5e-4 < float(points[:, 2].std()) < 2e-3
    assert 0.5 < float(points[:, :2].std()) < 2
    assert bool((nearly_planar(5, eps=0.0)[:, 2] == 0).all())


@pytest.mark.parametrize('build', [nearly_collinear, nearly_planar])
def test_bad_arguments(build):
    with pytest.raises(ValueError, match="'n'"):
        build(0)
    with pytest.raises(ValueError, match="'eps'"):
        build(4, eps=-1.0)


@pytest.mark.parametrize('name, n, aut', [
    ('cycle', 6, 12), ('path', 6, 2), ('complete', 5, 120), ('star', 6, 120),
    ('petersen', 6, 120),
])
def test_symmetric_graphs(name, n, aut):
    data = symmetric_graph(name, n)
    assert torch.equal(data.x, torch.ones(data.num_nodes, 1))
    adjacency = {v: [] for v in range(data.num_nodes)}
    for u, v in data.edge_index.t().tolist():
        adjacency[u].append(v)
    _, size, exponent, _, _ = pynauty.autgrp(pynauty.Graph(data.num_nodes,
                                                           adjacency_dict=adjacency))
    assert size * 10 ** exponent == aut


def test_unknown_symmetric_graph_names_the_known_ones():
    with pytest.raises(ValueError, match="'cube'.*petersen"):
        symmetric_graph('cube')
