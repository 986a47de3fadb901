r"""The shared machinery of the frames (:mod:`lps_geometric.frames.base`): lexicographic
keys and ranks, self-loop marks, finite permutation groups from generators, ragged stacks
and their weights, and the constructors' checks."""
import math
from collections import Counter

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, Data

from lps_geometric.frames.base import (INFINITE, FrameSampler, RaggedStack, check_budget,
                                       choose_elements, enumerate_group,
                                       lexicographic_keys, lexicographic_rank,
                                       numpy_generator, ragged_ranks, ragged_stack,
                                       random_group_elements, self_loop_marks,
                                       uniform_weights)
from lps_geometric.frames import LorentzMinimalFrameSampler, PCAFrameSampler
from lps_geometric.samplers import GroupSample, Sampler

ROTATION = [1, 2, 3, 4, 0]
REFLECTION = [0, 4, 3, 2, 1]


def test_lexicographic_keys_order_rows_and_merge_equal_ones():
    keys = torch.tensor([[1.0, 2.0], [0.0, 5.0], [1.0, 2.0 + 1e-9], [1.0, -1.0],
                         [-0.0, 5.0]])
    out = lexicographic_keys(keys)
    assert out.dtype == torch.long
    assert out.tolist() == [2, 0, 2, 1, 0]          # -0.0 equals 0.0, 1e-9 rounds away
    # fewer decimals merge more
    coarse = lexicographic_keys(torch.tensor([0.11, 0.12, 0.2]), decimals=1)
    assert coarse.tolist() == [0, 0, 1]
    # one column as a vector; no column: every row equal
    assert lexicographic_keys(torch.tensor([3.0, 1.0, 2.0])).tolist() == [2, 0, 1]
    assert lexicographic_keys(torch.zeros(4, 0)).tolist() == [0, 0, 0, 0]


def test_lexicographic_rank_sorts_each_graph_and_breaks_ties_uniformly():
    key = torch.tensor([2, 0, 1, 5, 5, 5, 1])
    batch = torch.tensor([0, 0, 0, 1, 1, 1, 1])
    ptr = torch.tensor([0, 3, 7])
    rank = lexicographic_rank(key, batch, ptr, torch.Generator().manual_seed(0))
    assert rank[:3].tolist() == [2, 0, 1]
    assert rank[6].item() == 0
    assert sorted(rank[3:6].tolist()) == [1, 2, 3]
    orders = Counter()
    gen = torch.Generator().manual_seed(1)
    for _ in range(600):
        orders[tuple(lexicographic_rank(key, batch, ptr, gen)[3:6].tolist())] += 1
    assert len(orders) == 6                          # all 3! orders of the tie
    assert min(orders.values()) > 600 / 6 * 0.6


def test_self_loop_marks():
    edge_index = torch.tensor([[0, 1, 2, 2, 3], [1, 0, 2, 2, 3]])
    marks = self_loop_marks(edge_index, 5)
    assert marks.dtype == torch.float64
    assert marks.tolist() == [0.0, 0.0, 1.0, 1.0, 0.0]
    assert self_loop_marks(torch.tensor([[0, 1], [1, 0]]), 2) is None
    assert self_loop_marks(torch.empty(2, 0, dtype=torch.long), 3) is None


def test_enumerate_group_cycle():
    rotation = ROTATION
    reflection = REFLECTION
    group = enumerate_group([rotation, reflection], 5, limit=100)
    assert group.shape == (10, 5)
    assert enumerate_group([rotation, reflection], 5, limit=5) is None


def test_enumerate_group_elements_are_distinct_permutations_closed_under_composition():
    group = enumerate_group([ROTATION, REFLECTION], 5, limit=10)
    assert group is not None and group.shape == (10, 5)
    assert group[0].tolist() == list(range(5))               # the identity first
    elements = {tuple(g) for g in group.tolist()}
    assert len(elements) == 10
    assert all(sorted(g) == list(range(5)) for g in elements)
    assert all(tuple(np.asarray(a)[list(b)]) in elements
               for a in elements for b in elements)
    # the trivial group, with or without the identity as a generator
    assert enumerate_group([], 4, limit=1).tolist() == [[0, 1, 2, 3]]
    assert enumerate_group([[0, 1, 2, 3]], 4, limit=1).tolist() == [[0, 1, 2, 3]]
    # S_4 from a transposition and a 4-cycle
    assert enumerate_group([[1, 0, 2, 3], [1, 2, 3, 0]], 4, limit=24).shape == (24, 4)


def test_random_group_elements_stay_in_the_group_and_cover_it():
    rng = np.random.default_rng(0)
    group = {tuple(g) for g in enumerate_group([ROTATION, REFLECTION], 5, 10).tolist()}
    draws = random_group_elements([ROTATION, REFLECTION], 5, 500, rng)
    assert draws.shape == (500, 5) and draws.dtype == np.int64
    seen = Counter(tuple(d) for d in draws.tolist())
    assert set(seen) == group                          # only and all of the 10 elements
    assert min(seen.values()) > 500 / 10 * 0.5        # roughly uniform
    # no generator: the identity, repeated
    assert random_group_elements([], 3, 2, rng).tolist() == [[0, 1, 2], [0, 1, 2]]
    # reproducible with the same seed
    a = random_group_elements([ROTATION], 5, 4, np.random.default_rng(7))
    b = random_group_elements([ROTATION], 5, 4, np.random.default_rng(7))
    assert np.array_equal(a, b)


def test_choose_elements_enumerates_samples_or_walks():
    rng = np.random.default_rng(0)
    gens = [ROTATION, REFLECTION]
    whole = choose_elements(gens, 5, 10, budget=16, rng=rng)
    assert whole.shape == (10, 5)
    picked = choose_elements(gens, 5, 10, budget=4, rng=rng)
    group = {tuple(g) for g in whole.tolist()}
    assert picked.shape == (4, 5)
    assert len({tuple(p) for p in picked.tolist()}) == 4          # without replacement
    assert {tuple(p) for p in picked.tolist()} <= group
    # larger than max_enumerate: product replacement, budget draws
    walked = choose_elements(gens, 5, 10, budget=3, rng=rng, max_enumerate=5)
    assert walked.shape == (3, 5)
    assert {tuple(p) for p in walked.tolist()} <= group


def test_numpy_generator_follows_torch_seeds():
    a = numpy_generator(torch.Generator().manual_seed(3)).integers(0, 10 ** 9, 4)
    b = numpy_generator(torch.Generator().manual_seed(3)).integers(0, 10 ** 9, 4)
    c = numpy_generator(torch.Generator().manual_seed(4)).integers(0, 10 ** 9, 4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    torch.manual_seed(5)
    d = numpy_generator(None).integers(0, 10 ** 9, 4)
    torch.manual_seed(5)
    assert np.array_equal(d, numpy_generator(None).integers(0, 10 ** 9, 4))


def test_ragged_stack_copies_every_graph_its_own_number_of_times():
    data = Batch.from_data_list([
        Data(x=torch.tensor([[1.0], [2.0]]), edge_index=torch.tensor([[0], [1]])),
        Data(x=torch.tensor([[3.0], [4.0], [5.0]]), edge_index=torch.tensor([[2], [0]]))])
    stack = ragged_stack(data, torch.tensor([3, 1]))
    assert isinstance(stack, RaggedStack)
    assert stack.graph_index.tolist() == [0, 0, 0, 1]
    assert stack.copy.tolist() == [0, 1, 2, 0]
    assert stack.counts.tolist() == [3, 1] and stack.num_nodes == 5
    assert stack.stacked.num_graphs == 4 and stack.stacked.num_nodes == 3 * 2 + 3
    assert stack.node_index.tolist() == [0, 1, 0, 1, 0, 1, 2, 3, 4]
    assert torch.equal(stack.stacked.x, data.x[stack.node_index])
    # edges stay inside their copy
    src, dst = stack.stacked.edge_index
    assert torch.equal(stack.stacked.batch[src], stack.stacked.batch[dst])
    assert stack.stacked.edge_index.size(1) == 3 + 1


def test_ragged_stack_sample_weights_each_graph_to_one():
    data = Batch.from_data_list([Data(x=torch.ones(n, 1), edge_index=torch.empty(
        2, 0, dtype=torch.long)) for n in (2, 3, 1)])
    stack = ragged_stack(data, torch.tensor([4, 1, 2]))
    weight = uniform_weights(stack.counts, stack.graph_index)
    assert weight.dtype == torch.float64
    assert weight.tolist() == [0.25] * 4 + [1.0] + [0.5] * 2
    size = torch.tensor([4.0, 1.0, INFINITE], dtype=torch.float64)
    sample = stack.sample('element', size)
    assert isinstance(sample, GroupSample)
    assert sample.element == 'element' and sample.stacked is stack.stacked
    assert torch.equal(sample.weight, weight)
    assert torch.equal(sample.frame_size, size)
    assert sample.num_samples is None
    assert torch.equal(sample.graph_index, stack.graph_index)
    own = torch.full((7,), 2.0, dtype=torch.float64)
    assert torch.equal(stack.sample('element', size, own).weight, own)
    assert math.isinf(INFINITE)


def test_ragged_ranks_flattens_graph_major_tables():
    tables = [np.array([[0, 1], [1, 0]]), np.array([[2, 0, 1]])]
    ranks = ragged_ranks(tables, torch.device('cpu'))
    assert ranks.dtype == torch.long
    assert ranks.tolist() == [0, 1, 1, 0, 2, 0, 1]
    assert ragged_ranks([], torch.device('cpu')).numel() == 0


def test_frame_samplers_are_samplers_that_do_not_draw():
    assert issubclass(FrameSampler, Sampler)
    assert FrameSampler.draws_samples is False
    assert Sampler.draws_samples is True
    assert check_budget(3) == 3
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match='budget'):
            check_budget(bad)
    # a frame ignores num_samples: the whole frame comes back
    data = Data(pos=torch.randn(5, 3, dtype=torch.float64))
    assert PCAFrameSampler(3)(data, 2).counts.tolist() == [8]
    assert PCAFrameSampler(3)(data, 7).counts.tolist() == [8]


def test_bad_settings_are_refused():
    from lps_geometric.frames import (GraphMinimalFrameSampler, LaplacianFrameSampler,
                                      OrthogonalMinimalFrameSampler,
                                      SetMinimalFrameSampler)
    from lps_geometric.groups import LinearTransform
    for make in (lambda: OrthogonalMinimalFrameSampler(3, budget=0),
                 lambda: GraphMinimalFrameSampler(budget=-1),
                 lambda: SetMinimalFrameSampler(budget=0),
                 lambda: LorentzMinimalFrameSampler(1),
                 lambda: LaplacianFrameSampler(num_blocks=0),
                 lambda: PCAFrameSampler(3, tie_samples=0),
                 lambda: OrthogonalMinimalFrameSampler(0),
                 lambda: LinearTransform(torch.eye(2).expand(1, 2, 2), torch.zeros(1),
                                         'affine')):
        with pytest.raises(ValueError):
            make()


def test_construction_internals_stay_importable_but_are_not_listed():
    import lps_geometric.frames as frames
    from lps_geometric.frames import base, orthogonal
    from lps_geometric.groups import nauty
    internals = {'stabilizer_size': orthogonal, 'apply_stabilizer': orthogonal,
                 'enumerate_group': base, 'random_group_elements': base,
                 'INFINITE': base, 'canonical_form': nauty, 'CanonicalForm': nauty}
    for name, home in internals.items():
        assert getattr(frames, name) is getattr(home, name), name
        assert name not in frames.__all__, name
    assert 'FrameSampler' in frames.__all__
    assert frames.FrameSampler is FrameSampler
