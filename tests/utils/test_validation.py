r"""Input checks of :mod:`lps_geometric.utils.validation`: the graph batch, the
argument checkers and the scope that skips checks an entry point already made."""
import pytest
import torch
from torch_geometric.data import Data

from lps_geometric.utils.validation import (GraphInputError, check_integer,
                                           check_positive_int, checked_input,
                                           validate_graph_batch)


def test_validation_requires_pos_when_asked(batch):
    validate_graph_batch(batch)
    with pytest.raises(GraphInputError, match='pos'):
        validate_graph_batch(batch, require_pos=True)
    batch.pos = torch.randn(batch.num_nodes, 3)
    validate_graph_batch(batch, require_pos=True)
    batch.pos[0, 1] = float('nan')
    with pytest.raises(GraphInputError, match="'pos'"):
        validate_graph_batch(batch, require_pos=True)


def test_validation_missing_edge_index():
    with pytest.raises(GraphInputError, match='edge_index'):
        validate_graph_batch(Data(x=torch.randn(3, 2)))


def test_graph_input_error_is_a_value_error():
    assert issubclass(GraphInputError, ValueError)


def test_argument_checks():
    assert check_positive_int('k', 3) == 3
    assert check_positive_int('k', torch.tensor(2)) == 2
    assert check_positive_int('k', 0, minimum=0) == 0
    for value, message in [(0, 'positive'), (-1, 'positive'), (2.5, 'integer'),
                           (True, 'integer'), ('3', 'integer'),
                           (torch.tensor(1.0), 'integer')]:
        with pytest.raises(ValueError, match=f"'k' must be .*{message}"):
            check_positive_int('k', value)
    with pytest.raises(ValueError, match='at least 2'):
        check_positive_int('k', 1, minimum=2)
    assert check_integer('seed', -3) == -3


def test_checked_input_skips_nested_checks():
    bad = Data(x=torch.randn(3, 2), edge_index=torch.tensor([[0], [7]]))
    with pytest.raises(GraphInputError, match='outside'):
        validate_graph_batch(bad)
    with checked_input():
        validate_graph_batch(bad)
    with pytest.raises(GraphInputError):    # the scope ends with the block
        validate_graph_batch(bad)


def test_integer_x_is_cast_and_pos_must_be_floating():
    data = Data(x=torch.randint(0, 4, (5, 3)), edge_index=torch.tensor([[0, 1], [1, 0]]))
    validate_graph_batch(data)
    data.pos = torch.randint(0, 4, (5, 3))
    with pytest.raises(GraphInputError, match="'pos' must have a floating dtype"):
        validate_graph_batch(data)
    data.pos = torch.randn(5, 3)
    data.vel = torch.randn(5, 2)
    with pytest.raises(GraphInputError, match="'vel' has vectors of dimension 2 but"):
        validate_graph_batch(data)
    with pytest.raises(GraphInputError, match="'force'"):
        validate_graph_batch(Data(pos=torch.randn(5, 3), edge_index=data.edge_index),
                              vector_keys=('force',))


# ------------------------------------------------- duplicate edges and self-loops
