r"""The charged-particle n-body system of the EGNN paper as a PyG dataset (the simulator
is in :mod:`lps_geometric.datasets.nbody_simulation`).

Satorras, Hoogeboom and Welling (`"E(n) Equivariant Graph Neural Networks"
<https://arxiv.org/abs/2102.09844>`_, ICML 2021) predict the positions of :obj:`5`
charged particles :obj:`1000` time steps ahead, on data produced with the "charged"
simulator of Kipf et al. (`"Neural Relational Inference for Interacting Systems"
<https://arxiv.org/abs/1802.04687>`_, ICML 2018), extended to three dimensions. The
simulator follows the same physics, written from scratch in PyTorch.
"""
import math
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch_geometric.data import Data

from lps_geometric.datasets.base import NamedInMemoryDataset
from lps_geometric.datasets.nbody_simulation import (check_field, complete_edge_index,
                                                     integrate_charged_particles,
                                                     simulate_charged_particles,
                                                     total_momentum)

__all__ = [
    'NBodyCharged',
    'ORIENTATIONS',
    'principal_axes_rotation',
    'orientation_rotations',
    'simulate_charged_particles',
    'integrate_charged_particles',
    'total_momentum',
    'complete_edge_index',
]

#: How :class:`NBodyCharged` orients its systems (see its ``orientation`` argument).
ORIENTATIONS = ('simulated', 'principal', 'about_z', 'uniform')


def principal_axes_rotation(pos: Tensor) -> Tensor:
    r"""The proper rotation :math:`R_c` of each system that turns its principal axes into
    the coordinate axes: the rows of :math:`R_c` are the eigenvectors of the covariance
    of the centred positions :math:`\mathbf{x}_i - \bar{\mathbf{x}}`, largest variance
    first, each signed so that the third moment of the coordinates along it is positive,
    the last one flipped if needed to make :math:`\det R_c = 1`.

    It is a canonical orientation: for a rotation :math:`Q`, the positions
    :math:`Q\mathbf{x}_i` give :math:`R_c Q^\top`, so :math:`R_c Q^\top Q \mathbf{x}_i =
    R_c \mathbf{x}_i`, except for systems with tied variances or a zero third moment
    along an axis, where the eigenvectors or their signs are not determined (for
    random clouds of three or more particles a set of measure zero; two particles
    always lie on a line, whose cross-section variances tie).

    Args:
        pos (torch.Tensor): Positions of shape :obj:`[S, n, 3]`.

    Returns:
        torch.Tensor: :obj:`[S, 3, 3]`, in the dtype of :obj:`pos`.
    """
    centred = pos - pos.mean(dim=-2, keepdim=True)
    cov = centred.transpose(-1, -2) @ centred
    _, vectors = torch.linalg.eigh(cov)                  # ascending eigenvalues
    axes = vectors.flip(-1).transpose(-1, -2)            # rows, largest variance first
    third = ((centred @ axes.transpose(-1, -2))**3).sum(dim=-2)   # [S, 3]
    axes = axes * torch.where(third < 0, -1.0, 1.0).to(pos.dtype).unsqueeze(-1)
    flip = torch.linalg.det(axes) < 0
    axes[:, 2] = torch.where(flip.unsqueeze(-1), -axes[:, 2], axes[:, 2])
    return axes


def orientation_rotations(kind: str, pos: Tensor, generator: torch.Generator
                          ) -> Tensor:
    r"""The rotations :math:`R` (:obj:`[S, 3, 3]`) that :class:`NBodyCharged` applies
    for ``orientation=kind`` to systems with input positions :obj:`pos`
    (:obj:`[S, n, 3]`): the principal-axes rotation :math:`R_c`
    (:func:`principal_axes_rotation`) followed by nothing (:obj:`"principal"`), a
    rotation about the :math:`z` axis by a uniform angle (:obj:`"about_z"`) or a
    Haar-random rotation of :math:`SO(3)` (:obj:`"uniform"`), drawn from ``generator``.
    """
    if kind not in ORIENTATIONS or kind == 'simulated':
        raise ValueError(f"orientation_rotations takes one of {ORIENTATIONS[1:]} (got "
                         f"{kind!r})")
    num, dtype = pos.size(0), pos.dtype
    rot = principal_axes_rotation(pos)
    if kind == 'about_z':
        angle = torch.rand(num, generator=generator, dtype=torch.float64) * 2 * math.pi
        c, s = angle.cos(), angle.sin()
        z = torch.zeros_like(c)
        turn = torch.stack([torch.stack([c, -s, z], -1), torch.stack([s, c, z], -1),
                            torch.stack([z, z, z + 1], -1)], -2)
        rot = turn.to(dtype) @ rot
    elif kind == 'uniform':
        q, r = torch.linalg.qr(torch.randn(num, 3, 3, generator=generator,
                                           dtype=torch.float64))
        q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)
        q[:, :, 2] *= torch.linalg.det(q).unsqueeze(-1)   # Haar on O(3) -> SO(3)
        rot = q.to(dtype) @ rot
    return rot


class NBodyCharged(NamedInMemoryDataset):
    r"""The charged-particle n-body dataset of the `"E(n) Equivariant Graph Neural
    Networks" <https://arxiv.org/abs/2102.09844>`_ paper (Satorras et al., ICML 2021),
    generated locally with :func:`simulate_charged_particles`.

    Every sample is one system of :obj:`5` particles with charges :math:`\pm 1`; the task
    is to predict the positions at frame :obj:`frame_target` from positions, velocities
    and charges at frame :obj:`frame_input`. Frames are :obj:`100` steps of
    :math:`\Delta t = 10^{-3}` apart and frame :math:`t` is the state after :math:`100t`
    steps (frame :obj:`0` is the initial state), see
    :func:`integrate_charged_particles`. The EGNN protocol uses :obj:`3000` training,
    :obj:`2000` validation and :obj:`2000` test systems and frames 30 and 40.

    .. note::
        The EGNN code indexes frames of an array whose entry :math:`k` is the state after
        :math:`100(k+1)` steps (the original simulator overwrites its initial frame), so
        its frames :obj:`30 -> 40` are steps :obj:`3100 -> 4100`, i.e. frames
        :obj:`31 -> 41` here. The defaults :obj:`30 -> 40` (steps :obj:`3000 -> 4000`)
        keep the same prediction horizon of :obj:`1000` steps. The data are not the
        EGNN files themselves (those were drawn from NumPy's global random stream).

    **Generation.** :meth:`process` simulates each split with one call of
    :func:`simulate_charged_particles` (in :obj:`torch.float64`, force clip
    :obj:`100`, :obj:`(frame_target + 1) * 100` steps, which gives the same frames as
    the original :obj:`5000` steps), with the seed :obj:`3 * seed + i` for split
    :math:`i` (:obj:`0` train, :obj:`1` val, :obj:`2` test): distinct for every
    (:obj:`seed`, split). Split :math:`i` therefore does not depend on the sizes of the
    other splits. The three splits are stored in :obj:`root/nbody_charged/processed/`,
    one file per split and configuration, and loaded with
    :obj:`torch.load(weights_only=True)` (no code is run).

    Every graph is a :class:`~torch_geometric.data.Data` object (all floats
    :obj:`torch.float32`) with

    * :obj:`pos` (:obj:`[5, 3]`) and :obj:`vel` (:obj:`[5, 3]`): state at
      :obj:`frame_input`;
    * :obj:`charge` and :obj:`x` (:obj:`[5, 1]`): the charges, also as node features;
    * :obj:`edge_index` (:obj:`[2, 20]`, :obj:`torch.long`): the complete directed graph
      without self-loops, see :func:`complete_edge_index`;
    * :obj:`edge_attr` (:obj:`[20, 1]`): :math:`q_i q_j` of edge :math:`(i, j)`;
    * :obj:`y` (:obj:`[5, 3]`): positions at :obj:`frame_target`.

    Args:
        root (str): Root directory; the dataset lives in :obj:`root/nbody_charged/`.
        split (str, optional): :obj:`"train"`, :obj:`"val"` or :obj:`"test"`.
            (default: :obj:`"train"`)
        num_train (int, optional): Training systems. (default: :obj:`3000`)
        num_val (int, optional): Validation systems. (default: :obj:`2000`)
        num_test (int, optional): Test systems. (default: :obj:`2000`)
        frame_input (int, optional): Input frame. (default: :obj:`30`)
        frame_target (int, optional): Target frame, after :obj:`frame_input`.
            (default: :obj:`40`)
        seed (int, optional): Base seed (non-negative). (default: :obj:`42`)
        field (sequence of 3 floats, optional): A constant external field
            :math:`\mathbf{E}` in which the systems move (particle :math:`i` feels
            :math:`q_i \mathbf{E}`), see :func:`integrate_charged_particles`. It leaves
            only rotations about its axis (and reflections in planes containing it) as
            symmetries. (default: :obj:`None`, no field)
        orientation (str, optional): How the systems are turned after simulation, all
            three frames by the same rotation :math:`R` about the centroid
            :math:`\bar{\mathbf{x}}` of the input positions (:math:`\mathbf{x}
            \mapsto R(\mathbf{x} - \bar{\mathbf{x}}) + \bar{\mathbf{x}}`,
            :math:`\mathbf{v} \mapsto R\mathbf{v}`), see
            :func:`orientation_rotations`: :obj:`"simulated"` (as simulated, every
            orientation equally likely), :obj:`"principal"` (the input's principal
            axes along the coordinate axes), :obj:`"about_z"` (that, turned about the
            :math:`z` axis by a uniform angle: a one-parameter family of orientations)
            or :obj:`"uniform"` (that, turned by a Haar-random rotation). Without a
            field a rigid motion of a whole trajectory is a trajectory (up to the force
            clip), so the targets stay exact. A field and an orientation other than
            :obj:`"simulated"` are refused: turning a system turns its field too. The
            angles come from a generator of their own, seeded by :meth:`split_seed`
            plus :obj:`1000003`. (default: :obj:`"simulated"`)
        transform (callable, optional): A function/transform that takes in a
            :class:`~torch_geometric.data.Data` object and returns a transformed version.
            The data object will be transformed before every access. (default: :obj:`None`)
        pre_transform (callable, optional): A function/transform that takes in a
            :class:`~torch_geometric.data.Data` object and returns a transformed version.
            The data object will be transformed before being saved to disk.
            (default: :obj:`None`)
        force_reload (bool, optional): Whether to re-process the dataset.
            (default: :obj:`False`)
    """

    name = 'nbody_charged'
    splits = ('train', 'val', 'test')
    num_particles = 5
    sample_every = 100
    dt = 1e-3
    max_force = 100.0

    def __init__(
        self,
        root: str,
        split: str = 'train',
        num_train: int = 3000,
        num_val: int = 2000,
        num_test: int = 2000,
        frame_input: int = 30,
        frame_target: int = 40,
        seed: int = 42,
        field: Optional[Sequence[float]] = None,
        orientation: str = 'simulated',
        transform: Optional[Callable] = None,
        pre_transform: Optional[Callable] = None,
        force_reload: bool = False,
    ) -> None:
        if split not in self.splits:
            raise ValueError(f"Invalid split '{split}' (expected one of {self.splits})")
        sizes = (num_train, num_val, num_test)
        if any(int(s) != s or s < 1 for s in sizes):
            raise ValueError(f'Split sizes must be positive integers, got {sizes}')
        if not 0 <= frame_input < frame_target:
            raise ValueError(f'Need 0 <= frame_input < frame_target, got '
                             f'{frame_input} and {frame_target}')
        if seed < 0:
            raise ValueError(f'seed must be non-negative, got {seed}')
        if orientation not in ORIENTATIONS:
            raise ValueError(f"Invalid orientation {orientation!r} (expected one of "
                             f"{ORIENTATIONS})")
        self.field: Optional[Tuple[float, float, float]] = None if field is None else \
            tuple(float(v) for v in check_field(field))
        if self.field is not None and orientation != 'simulated':
            raise ValueError(f"A field and orientation={orientation!r} cannot be combined: "
                             f"turning a system in a field turns the field with it, so "
                             f"every system would move in a field of its own")
        self.orientation = orientation
        self.split = split
        self.split_sizes = tuple(int(s) for s in sizes)
        self.frame_input = int(frame_input)
        self.frame_target = int(frame_target)
        self.seed = int(seed)
        super().__init__(root, transform, pre_transform, force_reload=force_reload)
        self.load(self.processed_paths[self.splits.index(split)])

    @property
    def raw_file_names(self) -> List[str]:
        return []  # generated, nothing to download

    @property
    def processed_file_names(self) -> List[str]:
        sizes = '-'.join(str(s) for s in self.split_sizes)
        extra = ''
        if self.field is not None:
            extra += '_field' + '_'.join(f'{v:g}' for v in self.field)
        if self.orientation != 'simulated':
            extra += f'_{self.orientation}'
        return [f'nbody_charged_{split}_n{self.num_particles}_sizes{sizes}'
                f'_frames{self.frame_input}-{self.frame_target}_seed{self.seed}{extra}.pt'
                for split in self.splits]

    def split_seed(self, split: str) -> int:
        r"""The simulator seed of :obj:`split`: :obj:`3 * seed + i` for the :obj:`i`-th
        of :obj:`("train", "val", "test")`."""
        return 3 * self.seed + self.splits.index(split)

    def _simulate(self, split: str) -> Dict[str, Tensor]:
        return simulate_charged_particles(
            self.split_sizes[self.splits.index(split)],
            num_particles=self.num_particles,
            num_steps=(self.frame_target + 1) * self.sample_every,
            sample_every=self.sample_every, dt=self.dt, max_force=self.max_force,
            seed=self.split_seed(split), dtype=torch.float64, field=self.field)

    def _orient(self, pos: Tensor, vel: Tensor, target: Tensor, split: str
                ) -> Tuple[Tensor, Tensor, Tensor]:
        r"""Turns input positions, velocities and targets (float64, :obj:`[S, n, 3]`) by
        the rotations of :obj:`orientation` about the input's centroid."""
        if self.orientation == 'simulated':
            return pos, vel, target
        # a stream of its own (the simulator's initial conditions use split_seed)
        generator = torch.Generator().manual_seed(self.split_seed(split) + 1_000_003)
        rot = orientation_rotations(self.orientation, pos, generator)
        centre = pos.mean(dim=-2, keepdim=True)
        turn = rot.transpose(-1, -2)                      # row vectors: x R^T

        def move(x):
            return (x - centre) @ turn + centre
        return move(pos), vel @ turn, move(target)

    def _to_data_list(self, sim: Dict[str, Tensor], split: str = 'train') -> List[Data]:
        n = self.num_particles
        edge_index = complete_edge_index(n)
        pos, vel, target = self._orient(sim['pos'][:, self.frame_input],
                                        sim['vel'][:, self.frame_input],
                                        sim['pos'][:, self.frame_target], split)
        pos, vel, target = pos.float(), vel.float(), target.float()
        charge = sim['charge'].float().unsqueeze(-1)  # [S, n, 1]
        edge_attr = charge[:, edge_index[0]] * charge[:, edge_index[1]]  # [S, E, 1]
        data_list = []
        for i in range(pos.size(0)):
            data = Data(x=charge[i], edge_index=edge_index,
                        edge_attr=edge_attr[i], pos=pos[i], vel=vel[i],
                        charge=charge[i], y=target[i])
            if self.pre_transform is not None:
                data = self.pre_transform(data)
            data_list.append(data)
        return data_list

    def process(self) -> None:
        for split, path in zip(self.splits, self.processed_paths):
            self.save(self._to_data_list(self._simulate(split), split), path)

    def __repr__(self) -> str:
        extra = '' if self.field is None else f', field={self.field}'
        if self.orientation != 'simulated':
            extra += f', orientation={self.orientation}'
        return (f'{self.__class__.__name__}({len(self)}, split={self.split}, '
                f'frames={self.frame_input}->{self.frame_target}{extra})')
