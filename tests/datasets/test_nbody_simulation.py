r"""The charged-particle integrator of :mod:`lps_geometric.datasets.nbody_simulation`
against a loop-by-loop reference, its conventions, conservation laws and symmetries."""
import pytest
import torch

from lps_geometric.datasets.nbody_simulation import (integrate_charged_particles,
                                                     simulate_charged_particles,
                                                     total_momentum)


def _naive_trajectory(x, v, q, num_steps, dt=1e-3, max_force=100.0):
    r"""Reference: one system, explicit loops over particle pairs, every step recorded."""
    x, v = x.clone(), v.clone()
    n = x.size(0)

    def force(x):
        f = torch.zeros_like(x)
        for i in range(n):
            for j in range(n):
                if i != j:
                    d = x[i] - x[j]
                    f[i] += q[i] * q[j] * d / d.norm()**3
        return f if max_force is None else f.clamp(-max_force, max_force)

    xs, vs = [x.clone()], [v.clone()]
    v += dt * force(x)
    for _ in range(num_steps - 1):
        x += dt * v
        xs.append(x.clone())
        vs.append(v.clone())
        v += dt * force(x)
    return torch.stack(xs), torch.stack(vs)


def _initial_state(num_sims=6, seed=7):
    sim = simulate_charged_particles(num_sims, num_steps=100, seed=seed)
    return sim['pos'][:, 0], sim['vel'][:, 0], sim['charge']


# simulator -----------------------------------------------------------------------------

def test_simulator_shapes_and_initial_state():
    out = simulate_charged_particles(4, num_steps=300, sample_every=100, seed=1)
    assert set(out) == {'pos', 'vel', 'charge'}
    assert out['pos'].shape == out['vel'].shape == (4, 3, 5, 3)
    assert out['charge'].shape == (4, 5)
    assert all(t.dtype == torch.float64 for t in out.values())
    assert set(out['charge'].unique().tolist()) <= {-1.0, 1.0}
    speed = torch.linalg.vector_norm(out['vel'][:, 0], dim=-1)
    assert torch.allclose(speed, torch.full_like(speed, 0.5), atol=1e-12)
    assert not torch.equal(out['pos'][:, 1], out['pos'][:, 0])

    out32 = simulate_charged_particles(4, num_steps=300, seed=1, dtype=torch.float32)
    assert all(t.dtype == torch.float32 for t in out32.values())
    assert torch.equal(out32['charge'], out['charge'].float())
    assert torch.equal(out32['pos'][:, 0], out['pos'][:, 0].float())  # same initial draw
    assert torch.allclose(out32['pos'], out['pos'].float(), atol=1e-4)

    more = simulate_charged_particles(10, num_particles=10, num_steps=100, seed=1)
    assert more['pos'].shape == (10, 1, 10, 3)
    spread = more['pos'][:, 0].std().item()  # loc_std scaled by (10 / 5) ** (1 / 3)
    assert 1.0 < spread < 1.6


def test_matches_naive_reference():
    x0, v0, q = _initial_state(num_sims=2)
    x0 = x0[:, :4] * 0.15  # close particles: the clip is active in the first steps
    v0, q = v0[:, :4], q[:, :4]
    for max_force in (100.0, None):
        pos, vel = integrate_charged_particles(x0, v0, q, num_steps=60, sample_every=1,
                                               max_force=max_force)
        for s in range(2):
            ref_pos, ref_vel = _naive_trajectory(x0[s], v0[s], q[s], 60, max_force=max_force)
            assert torch.allclose(pos[s], ref_pos, rtol=0, atol=1e-12)
            assert torch.allclose(vel[s], ref_vel, rtol=0, atol=1e-12)
    clipped, _ = integrate_charged_particles(x0, v0, q, num_steps=60, sample_every=1)
    assert not torch.allclose(clipped, pos)


def test_force_sign_and_clip():
    # Two particles at rest on the x-axis: like charges repel, unlike ones attract.
    pos0 = torch.tensor([[[-0.5, 0., 0.], [0.5, 0., 0.]]] * 2, dtype=torch.float64)
    charge = torch.tensor([[1., 1.], [1., -1.]], dtype=torch.float64)
    pos, vel = integrate_charged_particles(pos0, torch.zeros_like(pos0), charge,
                                           num_steps=2, sample_every=1)
    assert torch.allclose(vel[:, 1, 1, 0], torch.tensor([1e-3, -1e-3], dtype=torch.float64))
    assert torch.equal(vel[:, 1, 0], -vel[:, 1, 1])
    gap = pos[:, 1, 1, 0] - pos[:, 1, 0, 0]
    assert gap[0] > 1 and gap[1] < 1
    # At distance 0.01 the force 1e4 is clipped to max_force.
    near = pos0 * 0.01
    _, vel = integrate_charged_particles(near, torch.zeros_like(near), charge, num_steps=2,
                                         sample_every=1, max_force=100.0)
    assert torch.allclose(vel[0, 1, 1], torch.tensor([0.1, 0., 0.], dtype=torch.float64))
    _, vel = integrate_charged_particles(near, torch.zeros_like(near), charge, num_steps=2,
                                         sample_every=1, max_force=None)
    assert torch.allclose(vel[0, 1, 1], torch.tensor([10., 0., 0.], dtype=torch.float64))


def test_frame_convention():
    x0, v0, q = _initial_state()
    every, every_step = (integrate_charged_particles(x0, v0, q, num_steps=n * s, sample_every=s)
                         for n, s in ((5, 100), (500, 1)))
    for a, b in zip(every, every_step):
        assert a.shape == (6, 5, 5, 3)
        assert torch.equal(a, b[:, ::100])  # frame t = state after t * sample_every steps
    assert torch.equal(every[0][:, 0], x0) and torch.equal(every[1][:, 0], v0)
    # recorded velocity = the one that produced the recorded position
    pos, vel = every_step
    assert torch.allclose(pos[:, 1:] - pos[:, :-1], 1e-3 * vel[:, 1:], atol=1e-15)
    # a longer run reproduces the frames of a shorter one
    longer = integrate_charged_particles(x0, v0, q, num_steps=900, sample_every=100)
    assert torch.equal(longer[0][:, :5], every[0]) and torch.equal(longer[1][:, :5], every[1])
    single = integrate_charged_particles(x0, v0, q, num_steps=100, sample_every=100)
    assert torch.equal(single[0], x0.unsqueeze(1))


def test_deterministic_for_seed():
    threads = torch.get_num_threads()
    a = simulate_charged_particles(5, num_steps=400, seed=11)
    b = simulate_charged_particles(5, num_steps=400, seed=11)
    c = simulate_charged_particles(5, num_steps=400, seed=12)
    assert torch.get_num_threads() == threads  # the single-thread loop restores it
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a['pos'][:, 0], c['pos'][:, 0])
    assert not torch.equal(a['pos'][:, -1], c['pos'][:, -1])


def test_momentum_conserved_without_clip():
    out = simulate_charged_particles(8, num_steps=1000, max_force=None, seed=0)
    momentum = total_momentum(out['vel'])
    assert momentum.shape == (8, 10, 3)
    assert (momentum - momentum[:, :1]).abs().max() < 1e-10
    assert (out['pos'][:, -1] - out['pos'][:, 0]).abs().max() > 0.1  # they did move
    # With the default clip: conserved wherever the clip never acted (same trajectory).
    clipped = simulate_charged_particles(8, num_steps=1000, seed=0)
    unaffected = (clipped['pos'] == out['pos']).flatten(1).all(dim=1)
    assert 0 < int(unaffected.sum()) < 8
    momentum = total_momentum(clipped['vel'][unaffected])
    assert (momentum - momentum[:, :1]).abs().max() < 1e-10


def test_e3_equivariance_without_clip():
    x0, v0, q = _initial_state()
    gen = torch.Generator().manual_seed(3)
    rot, _ = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=torch.float64))
    rot[:, 0] *= torch.linalg.det(rot)  # a rotation
    shift = 3 * torch.randn(3, generator=gen, dtype=torch.float64)
    kwargs = dict(num_steps=1000, sample_every=100, max_force=None)
    pos, vel = integrate_charged_particles(x0, v0, q, **kwargs)
    for orth in (rot, -rot):  # rotation, and rotation composed with the inversion
        pos_g, vel_g = integrate_charged_particles(x0 @ orth.T + shift, v0 @ orth.T, q,
                                                   **kwargs)
        assert torch.allclose(pos_g, pos @ orth.T + shift, rtol=0, atol=1e-8)
        assert torch.allclose(vel_g, vel @ orth.T, rtol=0, atol=1e-8)
    perm = torch.randperm(5, generator=gen)
    pos_p, vel_p = integrate_charged_particles(x0[:, perm], v0[:, perm], q[:, perm], **kwargs)
    assert torch.allclose(pos_p, pos[:, :, perm], rtol=0, atol=1e-8)
    assert torch.allclose(vel_p, vel[:, :, perm], rtol=0, atol=1e-8)
    # Permuting the simulations permutes the output: the batch entries are independent.
    order = torch.randperm(6, generator=gen)
    pos_o, _ = integrate_charged_particles(x0[order], v0[order], q[order], **kwargs)
    assert torch.allclose(pos_o, pos[order], rtol=0, atol=1e-12)


def test_simulator_errors():
    x0, v0, q = _initial_state(num_sims=3)
    collide = x0.clone()
    collide[1, 3] = collide[1, 0]
    with pytest.raises(ValueError, match='same position'):
        integrate_charged_particles(collide, v0, q, num_steps=200)
    nan = x0.clone()
    nan[2, 1, 1] = float('nan')
    with pytest.raises(ValueError, match='NaN'):
        integrate_charged_particles(nan, v0, q, num_steps=200)
    # Two particles (force switched off) launched at each other meet exactly at the origin.
    pos0 = torch.tensor([[[-2**-4, 0., 0.], [2**-4, 0., 0.]]], dtype=torch.float64)
    vel0 = torch.tensor([[[2.**6, 0., 0.], [-2.**6, 0., 0.]]], dtype=torch.float64)
    with pytest.raises(ValueError, match='distance 0'):
        integrate_charged_particles(pos0, vel0, torch.ones(1, 2, dtype=torch.float64),
                                    num_steps=8, sample_every=4, dt=2**-10,
                                    interaction_strength=0.0)
    for kwargs in (dict(num_steps=250), dict(num_steps=50), dict(sample_every=0),
                   dict(dt=0.0), dict(max_force=-1.0)):
        with pytest.raises(ValueError):
            integrate_charged_particles(x0, v0, q, **{'num_steps': 200, **kwargs})
    with pytest.raises(ValueError):
        integrate_charged_particles(x0, v0[:, :4], q)
    with pytest.raises(ValueError):
        integrate_charged_particles(x0, v0, q[:, :4])
    with pytest.raises(ValueError):
        simulate_charged_particles(2, num_particles=1)


def test_complete_edge_index_is_every_ordered_pair_in_row_major_order():
    from lps_geometric.datasets.nbody_simulation import complete_edge_index
    edge_index = complete_edge_index(4)
    assert edge_index.dtype == torch.long and edge_index.shape == (2, 12)
    assert edge_index.t().tolist() == [[i, j] for i in range(4) for j in range(4) if i != j]
    assert complete_edge_index(1).shape == (2, 0)


def test_total_momentum_sums_the_particles():
    vel = torch.arange(2 * 3 * 4 * 3, dtype=torch.float64).view(2, 3, 4, 3)
    momentum = total_momentum(vel)
    assert momentum.shape == (2, 3, 3)
    assert torch.equal(momentum, vel.sum(dim=2))


# external field ------------------------------------------------------------------------

def test_field_matches_naive_reference_and_pushes_charges_apart():
    x0, v0, q = _initial_state(num_sims=2)
    field = torch.tensor([0.3, -0.2, 0.5], dtype=torch.float64)
    pos, vel = integrate_charged_particles(x0, v0, q, num_steps=40, sample_every=1,
                                           max_force=None, field=field.tolist())
    for s in range(2):
        # reference: the loop integrator with q_i E added to every force
        x, v = x0[s].clone(), v0[s].clone()
        n = x.size(0)

        def force(x):
            f = q[s].unsqueeze(-1) * field
            for i in range(n):
                for j in range(n):
                    if i != j:
                        d = x[i] - x[j]
                        f[i] = f[i] + q[s, i] * q[s, j] * d / d.norm()**3
            return f
        v = v + 1e-3 * force(x)
        for step in range(1, 40):
            x = x + 1e-3 * v
            assert torch.allclose(pos[s, step], x, rtol=0, atol=1e-12)
            v = v + 1e-3 * force(x)
    # the field changes the total momentum by dt * sum_i q_i E per step
    momentum = total_momentum(vel[:, -1]) - total_momentum(vel[:, 0])
    expected = 39 * 1e-3 * q.sum(dim=1, keepdim=True) * field
    assert torch.allclose(momentum, expected, atol=1e-10)


def test_field_keeps_only_rotations_about_its_axis():
    x0, v0, q = _initial_state(num_sims=3)
    field = [0.0, 0.0, 0.8]
    pos, _ = integrate_charged_particles(x0, v0, q, num_steps=200, sample_every=100,
                                         max_force=None, field=field)

    def rotated(rot):
        out, _ = integrate_charged_particles(x0 @ rot.T, v0 @ rot.T, q, num_steps=200,
                                             sample_every=100, max_force=None, field=field)
        return out
    angle = torch.tensor(0.7, dtype=torch.float64)
    about_z = torch.tensor([[angle.cos(), -angle.sin(), 0], [angle.sin(), angle.cos(), 0],
                            [0, 0, 1]], dtype=torch.float64)
    about_x = torch.tensor([[1, 0, 0], [0, angle.cos(), -angle.sin()],
                            [0, angle.sin(), angle.cos()]], dtype=torch.float64)
    assert torch.allclose(rotated(about_z), pos @ about_z.T, atol=1e-9)
    assert (rotated(about_x) - pos @ about_x.T).abs().max() > 1e-3


@pytest.mark.parametrize('field', [[1.0, 2.0], [0.0, float('nan'), 1.0], 'up'])
def test_field_errors(field):
    x0, v0, q = _initial_state(num_sims=1)
    with pytest.raises(ValueError, match='field must be three'):
        integrate_charged_particles(x0, v0, q, num_steps=2, sample_every=1, field=field)
