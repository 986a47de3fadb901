r"""The charged-particle simulator of the EGNN paper's n-body task, vectorised over
simulations: the only Python loop is the one over time steps.

Satorras, Hoogeboom and Welling (`"E(n) Equivariant Graph Neural Networks"
<https://arxiv.org/abs/2102.09844>`_, ICML 2021) predict the positions of :obj:`5`
charged particles :obj:`1000` time steps ahead, on data produced with the "charged"
simulator of Kipf et al. (`"Neural Relational Inference for Interacting Systems"
<https://arxiv.org/abs/1802.04687>`_, ICML 2018), extended to three dimensions. This
simulator follows the same physics, written from scratch in PyTorch;
:class:`~lps_geometric.datasets.NBodyCharged` builds the dataset from it.
"""
from contextlib import contextmanager
from typing import Dict, Iterator, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

try:  # optional: a progress bar over time steps for large runs
    from tqdm import tqdm
except ImportError:  # pragma: no cover
    tqdm = None

__all__ = [
    'simulate_charged_particles',
    'integrate_charged_particles',
    'total_momentum',
    'complete_edge_index',
    'check_field',
]

# A run is "large" (and gets a progress bar when :obj:`progress=None`) from this many
# particle-system steps (simulations times time steps) on.
_PROGRESS_MIN_WORK = 10_000_000


def complete_edge_index(num_nodes: int) -> Tensor:
    r"""The complete directed graph on :obj:`num_nodes` nodes without self-loops, as an
    :obj:`edge_index` of shape :obj:`[2, num_nodes * (num_nodes - 1)]`, in row-major
    order: :obj:`(0, 1), (0, 2), ..., (0, n-1), (1, 0), (1, 2), ...` (the order the EGNN
    code uses).
    """
    row = torch.arange(num_nodes).repeat_interleave(num_nodes)
    col = torch.arange(num_nodes).repeat(num_nodes)
    mask = row != col
    return torch.stack([row[mask], col[mask]])


def total_momentum(vel: Tensor) -> Tensor:
    r"""Total momentum :math:`\sum_i \mathbf{v}_i` of unit-mass particles.

    Args:
        vel (torch.Tensor): Velocities of shape :obj:`[..., num_particles, 3]`.

    Returns:
        torch.Tensor: Shape :obj:`[..., 3]`.
    """
    return vel.sum(dim=-2)


def check_field(field: Sequence[float]) -> Tensor:
    r"""A constant external field as a float64 tensor of shape :obj:`[3]`; a
    :class:`ValueError` unless it is three finite numbers."""
    try:
        value = torch.as_tensor(field, dtype=torch.float64).reshape(-1)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f'field must be three numbers, got {field!r}') from error
    if value.numel() != 3 or not bool(torch.isfinite(value).all()):
        raise ValueError(f'field must be three finite numbers, got {field!r}')
    return value


class _PairForces:
    r"""Computes the clipped Coulomb forces of a batch of systems, reusing buffers.

    Internally positions are laid out as :obj:`[n, 3, S]` (simulations last, so that
    every elementwise kernel runs over long contiguous rows). Only the
    :math:`P = n(n-1)/2` unordered pairs :math:`i < j` are formed: their differences
    :math:`\mathbf{d}_{ij} = \mathbf{x}_i - \mathbf{x}_j` (two row gathers and a
    subtraction) and pair forces :math:`\mathbf{f}_{ij} = k q_i q_j \mathbf{d}_{ij} /
    |\mathbf{d}_{ij}|^3`, which are added to particle :math:`i` and subtracted from
    particle :math:`j` (Newton's third law holds pair by pair). All buffers have
    :math:`O(P \cdot S)` entries; no :obj:`[S, n, n, 3]` tensor is formed. (Matrix
    products with the pair incidence matrix would compute the same, but products of
    such thin matrices make poor use of BLAS and depend on its threading.)
    """
    def __init__(self, charge: Tensor, interaction_strength: float,
                 max_force: Optional[float], field: Optional[Tensor] = None) -> None:
        num_sims, n = charge.shape
        dtype, device = charge.dtype, charge.device
        self.first, self.second = torch.triu_indices(n, n, offset=1, device=device)
        num_pairs = self.first.numel()
        # interaction_strength * q_i * q_j, shape [P, S]
        coupling = interaction_strength * charge[:, self.first] * charge[:, self.second]
        self.coupling = coupling.t().contiguous()
        self.max_force = max_force
        self.diff = torch.empty(num_pairs, 3, num_sims, dtype=dtype, device=device)
        self.other = torch.empty_like(self.diff)
        self.dist2 = torch.empty(num_pairs, num_sims, dtype=dtype, device=device)
        self.inv = torch.empty_like(self.dist2)
        # q_i E of a constant external field E, shape [n, 3, S] (None: no field)
        self.field_force = None if field is None else (
            charge.t().unsqueeze(1) * field.view(1, 3, 1)).contiguous()

    def pair_distances_squared(self, x: Tensor) -> Tensor:
        r"""Fills :obj:`self.diff` with :math:`\mathbf{x}_i - \mathbf{x}_j` and returns
        :math:`|\mathbf{x}_i - \mathbf{x}_j|^2` of all pairs :math:`i < j`, shape
        :obj:`[P, S]` (buffers, overwritten by the next call)."""
        torch.index_select(x, 0, self.first, out=self.diff)
        torch.index_select(x, 0, self.second, out=self.other)
        self.diff.sub_(self.other)
        torch.mul(self.diff, self.diff, out=self.other)
        torch.sum(self.other, dim=1, out=self.dist2)
        return self.dist2

    def __call__(self, x: Tensor, out: Tensor) -> Tensor:
        r"""Writes the forces at positions :obj:`x` (:obj:`[n, 3, S]`) into :obj:`out`."""
        dist2 = self.pair_distances_squared(x)
        torch.rsqrt(dist2, out=self.inv)          # 1 / r
        torch.mul(self.inv, self.inv, out=dist2)  # 1 / r^2 (dist2 is free now)
        dist2.mul_(self.inv).mul_(self.coupling)  # k q_i q_j / r^3
        self.diff.mul_(dist2.unsqueeze(1))        # f_ij = k q_i q_j (x_i - x_j) / r^3
        out.zero_()
        out.index_add_(0, self.first, self.diff)
        out.index_add_(0, self.second, self.diff, alpha=-1)
        if self.field_force is not None:
            out.add_(self.field_force)
        if self.max_force is not None:
            out.clamp_(-self.max_force, self.max_force)
        return out


@contextmanager
def _single_cpu_thread(device: torch.device) -> Iterator[None]:
    r"""Runs the block with one intra-op CPU thread (restored afterwards).

    The time loop issues about fifteen small kernels per step. Threads gain little on
    kernels this small, and every parallel kernel waits for all of its threads, so on a
    machine whose cores are busy with other processes each kernel waits for the slowest
    thread to be scheduled. One thread makes the loop's speed independent of the load.
    """
    threads = torch.get_num_threads()
    if device.type != 'cpu' or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _check_finite(x: Tensor, v: Tensor, first_step: int, last_step: int) -> None:
    finite = torch.isfinite(x).all(dim=0).all(dim=0) & torch.isfinite(v).all(dim=0).all(dim=0)
    if not bool(finite.all()):
        bad = (~finite).nonzero().view(-1).tolist()
        shown = ', '.join(str(s) for s in bad[:10]) + (', ...' if len(bad) > 10 else '')
        raise ValueError(
            f'Charged-particle simulation diverged between steps {first_step} and '
            f'{last_step}: positions or velocities became NaN/inf in {len(bad)} '
            f'simulation(s) (indices {shown}), i.e. two particles reached distance 0. '
            f'Use a smaller dt or keep the force clip (max_force).')


def integrate_charged_particles(
    pos0: Tensor,
    vel0: Tensor,
    charge: Tensor,
    num_steps: int = 5000,
    sample_every: int = 100,
    dt: float = 1e-3,
    interaction_strength: float = 1.0,
    max_force: Optional[float] = 100.0,
    progress: Optional[bool] = None,
    field: Optional[Sequence[float]] = None,
) -> Tuple[Tensor, Tensor]:
    r"""Integrates :math:`S` charged-particle systems from given initial states, all at
    once.

    Unit masses, pairwise Coulomb forces (like charges repel):

    .. math::
        \mathbf{F}_i = k \sum_{j \neq i} q_i q_j
        \frac{\mathbf{x}_i - \mathbf{x}_j}{|\mathbf{x}_i - \mathbf{x}_j|^3},

    with :math:`k` = :obj:`interaction_strength`, plus :math:`q_i \mathbf{E}` in a
    constant external field :math:`\mathbf{E}` (:obj:`field`), and every component of
    :math:`\mathbf{F}_i` clipped to :math:`[-F_{\max}, F_{\max}]` (:obj:`max_force`,
    :obj:`None` for no clip). The scheme is the kick-drift (symplectic Euler) leapfrog of
    the original simulator: with :math:`\mathbf{v}_0, \mathbf{x}_0` the initial state,

    .. math::
        \mathbf{v}_{k+1} = \mathbf{v}_k + \Delta t\, \mathbf{F}(\mathbf{x}_k), \qquad
        \mathbf{x}_{k+1} = \mathbf{x}_k + \Delta t\, \mathbf{v}_{k+1}.

    **Frames.** With :math:`s` = :obj:`sample_every`, frame :math:`t` is the state
    :math:`(\mathbf{x}_{ts}, \mathbf{v}_{ts})` after :math:`ts` steps, for
    :math:`t = 0, \dots, T-1` with :math:`T` = :obj:`num_steps // sample_every`; frame
    :obj:`0` is the initial state itself. The recorded velocity :math:`\mathbf{v}_k =
    (\mathbf{x}_k - \mathbf{x}_{k-1}) / \Delta t` is the one that produced
    :math:`\mathbf{x}_k` (before the kick :math:`\Delta t\,\mathbf{F}(\mathbf{x}_k)`), for
    every frame alike. Only the :math:`(T-1)s` steps up to the last frame are integrated
    (the original ran :obj:`num_steps - 1` steps and discarded the last :math:`s-1`), so a
    longer run reproduces a shorter one's frames exactly.

    Without the clip (:obj:`max_force=None`) the map from initial state to trajectory
    commutes with rotations, reflections, translations and permutations of the particles
    (up to rounding), and the total momentum is conserved (up to rounding). The
    componentwise clip breaks both whenever it is active. A field leaves only the
    rotations about its axis and the reflections in planes containing it (with all
    translations and permutations), and changes the total momentum by
    :math:`\Delta t \sum_i q_i \mathbf{E}` per step.

    All systems advance together; per step the work is a few kernels over
    :obj:`[n(n-1)/2, 3, S]` pair buffers (no :obj:`[S, n, n, 3]` tensor). On the CPU the
    loop runs with one intra-op thread (see :func:`_single_cpu_thread`).

    Args:
        pos0 (torch.Tensor): Initial positions, shape :obj:`[S, n, 3]`.
        vel0 (torch.Tensor): Initial velocities, shape :obj:`[S, n, 3]`.
        charge (torch.Tensor): Charges, shape :obj:`[S, n]`.
        num_steps (int, optional): Number of time steps; a multiple of
            :obj:`sample_every`. (default: :obj:`5000`)
        sample_every (int, optional): Steps between frames. (default: :obj:`100`)
        dt (float, optional): Time step :math:`\Delta t`. (default: :obj:`1e-3`)
        interaction_strength (float, optional): :math:`k`. (default: :obj:`1.0`)
        max_force (float, optional): Clip of every force component; :obj:`None`
            disables it. (default: :obj:`100.0`, :math:`0.1 / \Delta t` as in the
            original)
        progress (bool, optional): Show a :obj:`tqdm` progress bar over the time steps
            (if :obj:`tqdm` is installed). :obj:`None` shows one for large runs
            (:math:`S \cdot` steps :math:`\geq 10^7`) on a terminal. (default: :obj:`None`)
        field (sequence of 3 floats, optional): A constant external field
            :math:`\mathbf{E}`; particle :math:`i` feels :math:`q_i \mathbf{E}`.
            (default: :obj:`None`, no field)

    Returns:
        (torch.Tensor, torch.Tensor): Positions and velocities, each of shape
        :obj:`[S, T, n, 3]`, in the dtype and on the device of :obj:`pos0`.

    Raises:
        ValueError: On inconsistent arguments, if two particles start at the same
            position, or if the state becomes NaN/inf (two particles reached distance
            :obj:`0`). The state is checked at every frame.
    """
    if pos0.dim() != 3 or pos0.size(-1) != 3:
        raise ValueError(f'pos0 must have shape [S, n, 3], got {list(pos0.shape)}')
    if vel0.shape != pos0.shape:
        raise ValueError(f'vel0 must have the shape of pos0 {list(pos0.shape)}, '
                         f'got {list(vel0.shape)}')
    if charge.shape != pos0.shape[:2]:
        raise ValueError(f'charge must have shape {list(pos0.shape[:2])}, '
                         f'got {list(charge.shape)}')
    if not pos0.is_floating_point():
        raise ValueError(f'pos0 must be a floating point tensor, got {pos0.dtype}')
    num_sims, n, _ = pos0.shape
    if n < 2:
        raise ValueError(f'Need at least 2 particles, got {n}')
    if sample_every < 1 or num_steps < sample_every or num_steps % sample_every != 0:
        raise ValueError(f'num_steps ({num_steps}) must be a positive multiple of '
                         f'sample_every ({sample_every})')
    if not dt > 0:
        raise ValueError(f'dt must be positive, got {dt}')
    if max_force is not None and not max_force > 0:
        raise ValueError(f'max_force must be positive or None, got {max_force}')
    dtype, device = pos0.dtype, pos0.device
    field_tensor = None if field is None else check_field(field).to(dtype=dtype,
                                                                    device=device)

    num_frames = num_steps // sample_every
    last_step = (num_frames - 1) * sample_every

    # Internal layout [n, 3, S] (see _PairForces); x and v are updated in place.
    x = pos0.detach().to(dtype=dtype, device=device).permute(1, 2, 0).contiguous()
    v = vel0.detach().to(dtype=dtype, device=device).permute(1, 2, 0).contiguous()
    forces = _PairForces(charge.detach().to(dtype=dtype, device=device),
                         interaction_strength, max_force, field_tensor)
    pos = torch.empty(num_frames, n, 3, num_sims, dtype=dtype, device=device)
    vel = torch.empty_like(pos)
    pos[0], vel[0] = x, v

    _check_finite(x, v, 0, 0)
    if num_sims > 0:
        dist2 = forces.pair_distances_squared(x)
        if bool((dist2 == 0).any()):
            bad = (dist2 == 0).any(dim=0).nonzero().view(-1).tolist()
            raise ValueError(f'Two particles start at the same position in simulation(s) '
                             f'{bad[:10]}; the Coulomb force is undefined there')

    steps = range(1, last_step + 1)
    if tqdm is not None and progress is not False:
        large = num_sims * last_step >= _PROGRESS_MIN_WORK
        if progress or large:
            # disable=None: only on a terminal, unless explicitly requested
            steps = tqdm(steps, desc='n-body steps', unit='step', leave=False,
                         disable=False if progress else None)
    force = torch.empty_like(x)
    with _single_cpu_thread(device):
        if last_step > 0:
            v.add_(forces(x, out=force), alpha=dt)
        for step in steps:
            x.add_(v, alpha=dt)
            if step % sample_every == 0:
                frame = step // sample_every
                pos[frame], vel[frame] = x, v
                _check_finite(x, v, step - sample_every, step)
            if step < last_step:
                v.add_(forces(x, out=force), alpha=dt)

    # [T, n, 3, S] -> [S, T, n, 3]
    return pos.permute(3, 0, 1, 2).contiguous(), vel.permute(3, 0, 1, 2).contiguous()


def simulate_charged_particles(
    num_simulations: int,
    num_particles: int = 5,
    num_steps: int = 5000,
    sample_every: int = 100,
    dt: float = 1e-3,
    loc_std: float = 1.0,
    vel_norm: float = 0.5,
    interaction_strength: float = 1.0,
    max_force: Optional[float] = 100.0,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: Optional[Union[torch.device, str]] = None,
    progress: Optional[bool] = None,
    field: Optional[Sequence[float]] = None,
) -> Dict[str, Tensor]:
    r"""Samples :obj:`num_simulations` charged-particle systems and integrates them all at
    once with :func:`integrate_charged_particles`.

    Initial conditions, as in the "charged" simulator of Kipf et al. (2018) used by
    Satorras et al. (2021), drawn in this order from a CPU :class:`torch.Generator`
    seeded with :obj:`seed`, in :obj:`torch.float64` (so the result does not depend on
    :obj:`dtype` or :obj:`device` beyond rounding):

    * charges :math:`q_i` uniform on :math:`\{-1, +1\}`, shape :obj:`[S, n]`;
    * positions :math:`\mathbf{x}_i \sim \mathcal{N}(0, \sigma^2 I_3)` with
      :math:`\sigma` = :obj:`loc_std` :math:`\cdot (n / 5)^{1/3}`, shape :obj:`[S, n, 3]`;
    * velocities :math:`\mathbf{v}_i = v_0\, \mathbf{g}_i / |\mathbf{g}_i|` with
      :math:`\mathbf{g}_i \sim \mathcal{N}(0, I_3)` and :math:`v_0` = :obj:`vel_norm`.

    The original also reflected initial coordinates beyond :math:`\pm 5` at the walls of
    a box (which is otherwise disabled); with :obj:`loc_std=1` this affects about one
    particle in a million and is not done here.

    Args:
        num_simulations (int): Number of systems :math:`S`.
        num_particles (int, optional): Particles per system :math:`n`. (default: :obj:`5`)
        num_steps (int, optional): Time steps (a multiple of :obj:`sample_every`).
            (default: :obj:`5000`)
        sample_every (int, optional): Steps between frames. (default: :obj:`100`)
        dt (float, optional): Time step. (default: :obj:`1e-3`)
        loc_std (float, optional): Standard deviation of the initial coordinates, for
            :obj:`5` particles. (default: :obj:`1.0`)
        vel_norm (float, optional): Norm of every initial velocity. (default: :obj:`0.5`)
        interaction_strength (float, optional): Coulomb constant :math:`k`.
            (default: :obj:`1.0`)
        max_force (float, optional): Clip of every force component, :obj:`None` for
            none. (default: :obj:`100.0`)
        seed (int, optional): Seed of the initial conditions. (default: :obj:`0`)
        dtype (torch.dtype, optional): Dtype of the integration and of the output.
            (default: :obj:`torch.float64`)
        device (torch.device or str, optional): Device of the integration.
            (default: CPU)
        progress (bool, optional): See :func:`integrate_charged_particles`.
        field (sequence of 3 floats, optional): A constant external field, see
            :func:`integrate_charged_particles`. (default: :obj:`None`)

    Returns:
        dict: :obj:`pos` and :obj:`vel` of shape :obj:`[S, T, n, 3]` with :math:`T` =
        :obj:`num_steps // sample_every` frames (frame :math:`t` is the state after
        :math:`t \cdot` :obj:`sample_every` steps, frame :obj:`0` the initial state), and
        :obj:`charge` of shape :obj:`[S, n]` (values :math:`\pm 1` in :obj:`dtype`).
    """
    if num_simulations < 0:
        raise ValueError(f'num_simulations must be non-negative, got {num_simulations}')
    if num_particles < 2:
        raise ValueError(f'Need at least 2 particles, got {num_particles}')
    generator = torch.Generator().manual_seed(seed)
    shape = (num_simulations, num_particles)
    charge = torch.randint(0, 2, shape, generator=generator).to(torch.float64).mul_(2).sub_(1)
    std = loc_std * (num_particles / 5.0)**(1.0 / 3.0)
    pos0 = torch.randn(*shape, 3, generator=generator, dtype=torch.float64).mul_(std)
    vel0 = torch.randn(*shape, 3, generator=generator, dtype=torch.float64)
    vel0.mul_(vel_norm / torch.linalg.vector_norm(vel0, dim=-1, keepdim=True))

    pos0, vel0, charge = (t.to(dtype=dtype, device=device) for t in (pos0, vel0, charge))
    pos, vel = integrate_charged_particles(
        pos0, vel0, charge, num_steps=num_steps, sample_every=sample_every, dt=dt,
        interaction_strength=interaction_strength, max_force=max_force, progress=progress,
        field=field)
    return dict(pos=pos, vel=vel, charge=charge)
