r"""Moving a sampler's noise along with a group element: with the transported noise an
equivariant sampler draws exactly the transformed sample, which turns an equivariance
test of a stochastic model into an exact one."""
from torch import Tensor
from torch_geometric.data import Data

from lps_geometric.groups.euclidean import EuclideanTransform, split_element
from lps_geometric.groups.symmetric import Permutation
from lps_geometric.utils.batch import replicate_batch

__all__ = ['transport_noise']


def transport_noise(element, noise: Tensor, data: Data, num_samples: int) -> Tensor:
    r"""Transforms a sampler's per-node noise for :obj:`num_samples` stacked copies of
    ``data`` by a group element of ``data`` (the same element for every copy): vectors
    rotate (:math:`\epsilon \mapsto R \epsilon`, no translation) and rows move with their
    nodes. With the transported noise, an equivariant sampler gives the transformed
    sample exactly, so a symmetrized model is exactly equivariant."""
    stacked = replicate_batch(data, num_samples)
    perm, transform = split_element(element)
    out = noise
    if transform is not None and noise.size(-1) == transform.dim:
        rot = transform.rotation.repeat(num_samples, 1, 1)
        out = EuclideanTransform(rot, None, stacked.batch).act_vectors(out)
    if perm is not None:
        out = Permutation(perm.rank.repeat(num_samples), stacked.batch,
                          stacked.ptr).permute_nodes(out)
    return out
