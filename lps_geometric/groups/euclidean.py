r"""The orthogonal and Euclidean groups O(d), SO(d), E(d), SE(d) acting on point clouds,
one element per graph of a batch, and their direct product with :math:`S_n`.

An element :math:`g = (R, t)` acts on a point :math:`x \in \mathbb{R}^d` by
:math:`g \cdot x = R x + t`, on a free vector :math:`v` (velocity, force, a displacement)
by :math:`g \cdot v = R v`, and leaves scalars unchanged. Points are stored as rows, so
for node positions ``pos`` of shape :obj:`(|V|, d)` the action is
``pos @ R[batch].T + t[batch]``.
"""
import copy
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch_geometric.data import Data

from lps_geometric.groups.symmetric import Permutation, SymmetricGroup, check_level
from lps_geometric.utils.batch import to_ptr_batch

__all__ = [
    'EuclideanTransform', 'ProductElement', 'OrthogonalGroup', 'EuclideanGroup',
    'ProductGroup', 'haar_orthogonal', 'split_element', 'POSITION_KEYS', 'VECTOR_KEYS',
    'canonicalizing_transform'
]

#: Node attributes that are points (rotated and translated).
POSITION_KEYS: Tuple[str, ...] = ('pos',)
#: Node attributes that are free vectors (rotated only).
VECTOR_KEYS: Tuple[str, ...] = ('vel', 'velocity', 'force', 'vec')

_OUTPUTS = ('scalar', 'vector', 'position')


def _check_output(output: str):
    if output not in _OUTPUTS:
        raise ValueError(f"'output' must be one of {_OUTPUTS} (got '{output}')")


def haar_orthogonal(num: int, dim: int = 3, special: bool = False,
                    generator: Optional[torch.Generator] = None, device=None,
                    dtype: torch.dtype = torch.float32) -> Tensor:
    r"""Haar-uniform random matrices of :math:`O(d)` (or :math:`SO(d)`), shape
    :obj:`(num, d, d)`.

    The QR decomposition :math:`Z = QR` of a matrix with i.i.d. standard Gaussian entries,
    with the signs of :math:`R`'s diagonal moved into :math:`Q`, is Haar-distributed on
    :math:`O(d)` (Mezzadri, 2007). For :math:`SO(d)` the first column of the matrices with
    determinant :math:`-1` is negated, which maps the Haar measure of the other coset onto
    :math:`SO(d)`'s.
    """
    z = torch.randn(num, dim, dim, generator=generator, device=device, dtype=torch.float64)
    q, r = torch.linalg.qr(z)
    sign = torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    q = q * sign.unsqueeze(-2)
    if special:
        flip = torch.where(torch.linalg.det(q) < 0, -1.0, 1.0).to(q.dtype)
        q = torch.cat([q[..., :1] * flip.view(-1, 1, 1), q[..., 1:]], dim=-1)
    return q.to(dtype)


def _rotate(value: Tensor, rotation: Tensor) -> Tensor:
    r"""Rotates the trailing :math:`d`-vectors of ``value`` (shape :obj:`(N, ..., d)`)
    by per-row matrices ``rotation`` (shape :obj:`(N, d, d)`): :math:`v \mapsto R v`."""
    shape = value.shape
    flat = value.reshape(shape[0], -1, shape[-1])
    return torch.matmul(flat, rotation.transpose(-1, -2).to(value.dtype)).view(shape)


class EuclideanTransform:
    r"""One Euclidean transformation :math:`x \mapsto R x + t` per graph of a batch.

    Args:
        rotation (torch.Tensor): :math:`R`, shape :obj:`(B, d, d)`, orthogonal.
        translation (torch.Tensor, optional): :math:`t`, shape :obj:`(B, d)`; :obj:`None`
            is the zero translation (an element of :math:`O(d)`).
        batch (torch.Tensor): Node-to-graph assignment, shape :obj:`(|V|,)`.
        position_keys (sequence of str, optional): Node attributes that are points.
            (default: :obj:`("pos",)`)
        vector_keys (sequence of str, optional): Node attributes that are free vectors.
            (default: :obj:`("vel", "velocity", "force", "vec")`)

    Vector-valued node attributes may have shape :obj:`(|V|, d)` or
    :obj:`(|V|, C, d)` (:math:`C` vector channels).
    """
    def __init__(self, rotation: Tensor, translation: Optional[Tensor], batch: Tensor,
                 position_keys: Sequence[str] = POSITION_KEYS,
                 vector_keys: Sequence[str] = VECTOR_KEYS):
        if rotation.dim() != 3 or rotation.size(-1) != rotation.size(-2):
            raise ValueError(f"'rotation' must have shape (B, d, d) "
                             f"(got {tuple(rotation.shape)})")
        if translation is not None and translation.shape != rotation.shape[:2]:
            raise ValueError(f"'translation' must have shape {tuple(rotation.shape[:2])} "
                             f"(got {tuple(translation.shape)})")
        self.rotation = rotation
        self.translation = translation
        self.batch = batch
        self.position_keys = tuple(position_keys)
        self.vector_keys = tuple(vector_keys)

    @property
    def num_graphs(self) -> int:
        return self.rotation.size(0)

    @property
    def dim(self) -> int:
        return self.rotation.size(-1)

    # group structure ---------------------------------------------------------------
    def _like(self, rotation: Tensor, translation: Optional[Tensor]
              ) -> 'EuclideanTransform':
        return EuclideanTransform(rotation, translation, self.batch, self.position_keys,
                                  self.vector_keys)

    def inverse(self) -> 'EuclideanTransform':
        r""":math:`(R, t)^{-1} = (R^\top, -R^\top t)`."""
        rot_t = self.rotation.transpose(-1, -2)
        trans = None
        if self.translation is not None:
            trans = -torch.matmul(rot_t, self.translation.unsqueeze(-1)).squeeze(-1)
        return self._like(rot_t, trans)

    def compose(self, other: 'EuclideanTransform') -> 'EuclideanTransform':
        r"""``self ∘ other``: :math:`(R_1, t_1)(R_2, t_2) = (R_1 R_2, R_1 t_2 + t_1)`."""
        rot = torch.matmul(self.rotation, other.rotation)
        if other.translation is None:
            trans = self.translation
        else:
            trans = torch.matmul(self.rotation, other.translation.unsqueeze(-1)).squeeze(-1)
            if self.translation is not None:
                trans = trans + self.translation
        return self._like(rot, trans)

    def __matmul__(self, other: 'EuclideanTransform') -> 'EuclideanTransform':
        return self.compose(other)

    def determinant(self) -> Tensor:
        r"""``det R`` per graph, shape :obj:`(B,)` (:math:`\pm 1`)."""
        return torch.linalg.det(self.rotation.double()).to(self.rotation.dtype)

    # actions -----------------------------------------------------------------------
    def act_positions(self, pos: Tensor, batch: Optional[Tensor] = None) -> Tensor:
        r""":math:`x \mapsto R x + t` for points of shape :obj:`(|V|, ..., d)`."""
        batch = self.batch if batch is None else batch
        out = _rotate(pos, self.rotation[batch])
        if self.translation is not None:
            t = self.translation[batch].to(pos.dtype)
            out = out + t.view(t.size(0), *([1] * (pos.dim() - 2)), t.size(-1))
        return out

    def act_vectors(self, vec: Tensor, batch: Optional[Tensor] = None) -> Tensor:
        r""":math:`v \mapsto R v` for free vectors of shape :obj:`(|V|, ..., d)`."""
        batch = self.batch if batch is None else batch
        return _rotate(vec, self.rotation[batch])

    def apply(self, data: Data) -> Data:
        r"""Transforms a batch: points in ``position_keys`` are rotated and translated,
        vectors in ``vector_keys`` rotated; everything else is shared (shallow copy)."""
        out = copy.copy(data)
        for key in self.position_keys:
            value = getattr(data, key, None)
            if isinstance(value, Tensor):
                out[key] = self.act_positions(value)
        for key in self.vector_keys:
            value = getattr(data, key, None)
            if isinstance(value, Tensor):
                out[key] = self.act_vectors(value)
        return out

    def act_output(self, out: Tensor, level: str, output: str = 'scalar') -> Tensor:
        r"""The action on a model output: scalars are invariant, vectors rotate, positions
        rotate and translate. ``out`` has one row per graph (``level="graph"``) or per
        node (``level="node"``), vectors in its last dimension."""
        _check_output(output)
        if output == 'scalar':
            return out
        batch = self.batch if check_level(level) == 'node' else torch.arange(
            self.num_graphs, device=self.rotation.device)
        if output == 'vector':
            return self.act_vectors(out, batch)
        return self.act_positions(out, batch)

    def pull_output(self, out: Tensor, level: str, output: str = 'scalar') -> Tensor:
        r"""The inverse action on an output (used by
        :class:`~lps_geometric.nn.Symmetrize` to map a canonical output back)."""
        if output == 'scalar':
            _check_output(output)
            return out
        return self.inverse().act_output(out, level, output)

    def permute_nodes(self, value: Tensor) -> Tensor:
        return value

    def to(self, device) -> 'EuclideanTransform':
        trans = None if self.translation is None else self.translation.to(device)
        return EuclideanTransform(self.rotation.to(device), trans, self.batch.to(device),
                                  self.position_keys, self.vector_keys)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_graphs={self.num_graphs}, dim={self.dim}, '
                f'translation={self.translation is not None})')


class ProductElement:
    r"""An element :math:`(\sigma, g)` of :math:`S_n \times E(d)` (or
    :math:`S_n \times O(d)`) per graph: :math:`\sigma` relabels the nodes and :math:`g`
    transforms coordinates. The two actions commute (one moves rows, the other acts
    inside them), so the product is direct.
    """
    def __init__(self, permutation: Permutation, transform: EuclideanTransform):
        self.permutation = permutation
        self.transform = transform

    def inverse(self) -> 'ProductElement':
        return ProductElement(self.permutation.inverse(), self.transform.inverse())

    def compose(self, other: 'ProductElement') -> 'ProductElement':
        return ProductElement(self.permutation.compose(other.permutation),
                              self.transform.compose(other.transform))

    def __matmul__(self, other: 'ProductElement') -> 'ProductElement':
        return self.compose(other)

    def apply(self, data: Data) -> Data:
        return self.permutation.apply(self.transform.apply(data))

    def act_output(self, out: Tensor, level: str, output: str = 'scalar') -> Tensor:
        out = self.transform.act_output(out, level, output)
        return self.permutation.act_output(out, level, output)

    def pull_output(self, out: Tensor, level: str, output: str = 'scalar') -> Tensor:
        out = self.permutation.pull_output(out, level, output)
        return self.transform.pull_output(out, level, output)

    def permute_nodes(self, value: Tensor) -> Tensor:
        return self.permutation.permute_nodes(value)

    def to(self, device) -> 'ProductElement':
        return ProductElement(self.permutation.to(device), self.transform.to(device))

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.permutation}, {self.transform})'


def split_element(element) -> Tuple[Optional[Permutation], Optional[EuclideanTransform]]:
    r"""The permutation part and the Euclidean part of a group element (either may be
    :obj:`None`): a :class:`ProductElement` gives both, a
    :class:`~lps_geometric.groups.Permutation` or an :class:`EuclideanTransform` one.
    Other types raise a :class:`TypeError`."""
    if isinstance(element, ProductElement):
        return element.permutation, element.transform
    if isinstance(element, Permutation):
        return element, None
    if isinstance(element, EuclideanTransform):
        return None, element
    raise TypeError(f'Unsupported group element {type(element).__name__} (expected a '
                    f'Permutation, an EuclideanTransform or a ProductElement)')


class OrthogonalGroup:
    r"""The orthogonal group :math:`O(d)` (``special=False``) or the rotation group
    :math:`SO(d)` (``special=True``), one element per graph, acting on ``pos`` and the
    vector attributes of a batch about the origin.

    Args:
        dim (int, optional): :math:`d`. (default: :obj:`3`)
        special (bool, optional): Restrict to :math:`\det R = +1`. (default: :obj:`False`)
        position_keys, vector_keys: See :class:`EuclideanTransform`.
    """
    translations = False

    def __init__(self, dim: int = 3, special: bool = False,
                 position_keys: Sequence[str] = POSITION_KEYS,
                 vector_keys: Sequence[str] = VECTOR_KEYS):
        self.dim = dim
        self.special = special
        self.position_keys = tuple(position_keys)
        self.vector_keys = tuple(vector_keys)

    @property
    def name(self) -> str:
        prefix = ('S' if self.special else '') + ('E' if self.translations else 'O')
        return f'{prefix}({self.dim})'

    def _element(self, rotation: Tensor, translation: Optional[Tensor], batch: Tensor
                 ) -> EuclideanTransform:
        return EuclideanTransform(rotation, translation, batch, self.position_keys,
                                  self.vector_keys)

    def identity(self, data: Data) -> EuclideanTransform:
        batch, _, B = to_ptr_batch(data)
        eye = torch.eye(self.dim, device=batch.device).expand(B, -1, -1).clone()
        trans = eye.new_zeros(B, self.dim) if self.translations else None
        return self._element(eye, trans, batch)

    def random_element(self, data: Data, generator: Optional[torch.Generator] = None,
                       translation_scale: float = 1.0) -> EuclideanTransform:
        r"""A Haar-random :math:`R` per graph (and, for :math:`E(d)`, a Gaussian
        translation with standard deviation ``translation_scale``)."""
        batch, _, B = to_ptr_batch(data)
        dtype = data.pos.dtype if getattr(data, 'pos', None) is not None else torch.float32
        rot = haar_orthogonal(B, self.dim, self.special, generator, batch.device, dtype)
        trans = None
        if self.translations:
            trans = translation_scale * torch.randn(
                B, self.dim, generator=generator, device=batch.device, dtype=torch.float64
            ).to(dtype)
        return self._element(rot, trans, batch)

    def compose(self, a, b):
        return a.compose(b)

    def inverse(self, a):
        return a.inverse()

    def act(self, element, data: Data) -> Data:
        return element.apply(data)

    def act_on_output(self, element, out: Tensor, level: str,
                      output: str = 'scalar') -> Tensor:
        return element.act_output(out, level, output)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.name})'


class EuclideanGroup(OrthogonalGroup):
    r"""The Euclidean group :math:`E(d)` (``special=False``) or :math:`SE(d)`
    (``special=True``): rotations (and reflections) plus translations."""
    translations = True


class ProductGroup:
    r"""The direct product :math:`S_n \times G` of node relabellings and a Euclidean
    group :math:`G` (:class:`OrthogonalGroup` or :class:`EuclideanGroup`), e.g.
    :math:`S_n \times E(3)` for particle systems.

    Args:
        euclidean (OrthogonalGroup, optional): The coordinate group. (default:
            :math:`E(3)`)
    """
    def __init__(self, euclidean: Optional[OrthogonalGroup] = None):
        self.symmetric = SymmetricGroup()
        self.euclidean = euclidean if euclidean is not None else EuclideanGroup()

    @property
    def name(self) -> str:
        return f'S_n x {self.euclidean.name}'

    def identity(self, data: Data) -> ProductElement:
        return ProductElement(self.symmetric.identity(data), self.euclidean.identity(data))

    def random_element(self, data: Data, generator: Optional[torch.Generator] = None
                       ) -> ProductElement:
        return ProductElement(self.symmetric.random_element(data, generator),
                              self.euclidean.random_element(data, generator))

    def compose(self, a: ProductElement, b: ProductElement) -> ProductElement:
        return a.compose(b)

    def inverse(self, a: ProductElement) -> ProductElement:
        return a.inverse()

    def act(self, element: ProductElement, data: Data) -> Data:
        return element.apply(data)

    def act_on_output(self, element: ProductElement, out: Tensor, level: str,
                      output: str = 'scalar') -> Tensor:
        return element.act_output(out, level, output)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.name})'


def canonicalizing_transform(frame: Tensor, center: Optional[Tensor], batch: Tensor,
                             position_keys: Sequence[str] = POSITION_KEYS,
                             vector_keys: Sequence[str] = VECTOR_KEYS
                             ) -> EuclideanTransform:
    r"""The element :math:`h = (Q^\top, -Q^\top c)`, i.e. :math:`x \mapsto Q^\top (x - c)`,
    for frames ``frame`` :math:`(B, d, d)` and centres ``center`` :math:`(B, d)`."""
    rot = frame.transpose(-1, -2)
    trans = None
    if center is not None:
        trans = -torch.matmul(rot, center.unsqueeze(-1).to(rot.dtype)).squeeze(-1)
    return EuclideanTransform(rot, trans, batch, position_keys, vector_keys)
