import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch
from torch_geometric.data import Batch

PATH = Path(__file__).resolve().parents[2] / 'examples' / 'nbody.py'


def load_example():
    spec = importlib.util.spec_from_file_location('nbody_example', PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SMALL = ['--num-train', '40', '--num-val', '20', '--num-test', '20', '--batch-size', '20',
         '--epochs', '2', '--eval-every', '1', '--depth', '1', '--embed-dim', '16',
         '--heads', '2', '--sampler-hidden', '16', '--sampler-layers', '1',
         '--egnn-hidden', '16', '--egnn-layers', '1', '--samples', '2',
         '--eval-samples', '2', '--test-samples', '2', '--device', 'cpu']


def test_every_method_trains_and_reports(tmp_path):
    example = load_example()
    example.main(['--method', 'all', '--cosine', '--out', str(tmp_path), '--root',
                  str(tmp_path / 'data')] + SMALL + ['--sample-sweep', '1', '3'])
    result = json.loads((tmp_path / 'results_all.json').read_text())
    methods = [r['method'] for r in result['results']]
    assert methods == ['lps', 'ga', 'canonical', 'fa', 'mfa', 'egnn', 'plain']
    for r in result['results']:
        assert math.isfinite(r['test_mse']) and r['test_mse'] > 0
        if r['method'] in ('lps', 'ga'):
            assert set(r['test_mse_by_samples']) == {'1', '3'}
        assert len(r['history']['train']) == 2
    spread = {r['method']: r['sample_spread'] for r in result['results']}
    assert spread['egnn'] is None and spread['fa'] is None
    assert spread['canonical']['rotation'] < 1e-6 and spread['canonical']['permutation'] == 0
    assert 0.6 < spread['ga']['rotation'] < 1.4 and 0.6 < spread['ga']['permutation'] < 1.4
    assert 0 < spread['lps']['rotation'] and 0 < spread['lps']['permutation']
    assert (tmp_path / 'run_lps' / 'checkpoints' / 'last.ckpt').exists()


def assert_equivariant(example, method, args):
    r"""The model of ``method`` is exactly S_n x E(3)-equivariant on two random systems
    (for the stochastic methods, with the sampler's noise transported along)."""
    from lps_geometric.groups import ProductGroup
    from lps_geometric.testing import random_point_cloud_batch, transport_noise
    data = random_point_cloud_batch([5, 5], dtype=torch.float64)
    group = ProductGroup()
    g = group.random_element(data, torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = example.build_model(method, args).double().eval()
    if method in ('egnn', 'fa', 'mfa'):     # deterministic: nothing to transport
        out, out_g = model(data), model(group.act(g, data))
    else:
        k = model.model.eval_num_samples
        noise = torch.randn(k * data.num_nodes, 3, dtype=torch.float64)
        out = model.model(data, noise=noise) + data.pos
        moved = group.act(g, data)
        out_g = model.model(moved, noise=transport_noise(g, noise, data, k)) + moved.pos
    expected = group.act_on_output(g, out, 'node', 'position')
    assert torch.allclose(out_g, expected, atol=1e-9), method


def test_symmetrized_predictor_is_equivariant(tmp_path):
    example = load_example()
    args = example.parse_args(SMALL)
    assert args.pair_geometry  # the default; --no-pair-geometry reads charges only
    assert not example.parse_args(SMALL + ['--no-pair-geometry']).pair_geometry
    cases = [(m, False) for m in ('lps', 'canonical', 'fa', 'mfa', 'egnn')]
    cases += [('lps', True), ('fa', True)]         # pair tokens reading relative geometry
    cases += [('canonical', 'inner'), ('lps', 'inner')]  # ... and <pos_i - pos_j, vel_i - vel_j>
    cases += [('lps', 'inverse')]  # ... and the inverse-square field
    for method, geometry in cases:
        args.pair_geometry = bool(geometry)
        args.pair_inner_product = geometry == 'inner'
        args.pair_inverse_powers = [2] if geometry == 'inverse' else []
        assert_equivariant(example, method, args), (method, geometry)
    args.pair_geometry, args.pair_inner_product = False, True
    with pytest.raises(ValueError, match='no-pair-geometry'):
        example.build_model('ga', args)
    args.pair_inner_product, args.pair_inverse_powers = False, [2]
    with pytest.raises(ValueError, match='no-pair-geometry'):
        example.build_model('ga', args)


def test_resume_continues_from_the_checkpoint(tmp_path):
    example = load_example()
    common = ['--method', 'egnn', '--out', str(tmp_path), '--root',
              str(tmp_path / 'data')] + SMALL
    example.main(common)
    first = json.loads((tmp_path / 'results_egnn.json').read_text())['results'][0]
    example.main(common + ['--epochs', '3', '--resume'])
    resumed = json.loads((tmp_path / 'results_egnn.json').read_text())['results'][0]
    assert len(resumed['history']['train']) == 3
    assert resumed['history']['train'][:2] == first['history']['train']
    # the same as an uninterrupted 3-epoch run (model, optimizer and RNG states restored)
    straight = tmp_path / 'straight'
    example.main(['--method', 'egnn', '--out', str(straight), '--root',
                  str(tmp_path / 'data')] + SMALL + ['--epochs', '3'])
    full = json.loads((straight / 'results_egnn.json').read_text())['results'][0]
    assert full['history']['train'] == resumed['history']['train']
    assert full['test_mse'] == resumed['test_mse']


def test_l1_training_loss_is_scored_by_mse(tmp_path):
    # with a learning rate of 0 the model stays at its initialisation, so both runs test the
    # same model (the same test MSE) while their training losses are L1 and MSE of its errors
    example = load_example()
    runs = {}
    for loss in ('mse', 'l1'):
        out = tmp_path / loss
        example.main(['--method', 'egnn', '--out', str(out), '--root', str(tmp_path / 'data'),
                      '--loss', loss, '--egnn-lr', '0'] + SMALL)
        runs[loss] = json.loads((out / 'results_egnn.json').read_text())['results'][0]
    assert runs['l1']['test_mse'] == pytest.approx(runs['mse']['test_mse'], rel=1e-6)
    l1, mse = runs['l1']['history']['train'][0], runs['mse']['history']['train'][0]
    assert l1 != pytest.approx(mse, rel=1e-3)
    assert l1 <= math.sqrt(mse) + 1e-6            # mean |e| <= sqrt(mean e^2) per batch
    with pytest.raises(SystemExit):
        example.parse_args(SMALL + ['--loss', 'huber'])


def test_ensemble_of_finished_runs(tmp_path):
    example = load_example()
    data = ['--root', str(tmp_path / 'data')]
    for seed in (0, 1):
        example.main(['--method', 'ga', '--seed', str(seed), '--out',
                      str(tmp_path / f's{seed}')] + data + SMALL)
    runs = [str(tmp_path / f's{seed}' / 'run_ga') for seed in (0, 1)]
    example.main(['--method', 'ga', '--out', str(tmp_path / 'ens'), '--ensemble', *runs]
                 + data + SMALL)
    result = json.loads((tmp_path / 'ens' / 'ensemble_ga.json').read_text())['result']
    trained = json.loads((tmp_path / 's0' / 'results_ga.json').read_text())['results'][0]
    members = result['members']
    # members are scored with --seed (0 here) for their test-time samples, as the seed-0
    # run scored itself ...
    assert members[0]['test_mse'] == pytest.approx(trained['test_mse'], rel=1e-5)
    # ... and the mean prediction is no worse than the mean member (Jensen)
    for split in ('val', 'test'):
        mean_member = sum(m[f'{split}_mse'] for m in members) / 2
        assert result[f'{split}_mse'] <= mean_member + 1e-12
        assert result[f'{split}_mse'] < mean_member      # two different models
    with pytest.raises(FileNotFoundError, match='finished runs'):
        example.main(['--method', 'ga', '--out', str(tmp_path / 'ens'), '--ensemble',
                      str(tmp_path / 'nowhere')] + data + SMALL)
    with pytest.raises(ValueError, match='does not fit'):
        example.main(['--method', 'ga', '--out', str(tmp_path / 'ens'), '--ensemble',
                      runs[0]] + data + SMALL + ['--embed-dim', '8'])  # the last value wins


def test_sampler_norm_and_spread_weight_reach_the_model(tmp_path):
    example = load_example()
    example.main(['--method', 'lps', '--sampler-norm', '--spread-weight', '0.1', '--out',
                  str(tmp_path), '--root', str(tmp_path / 'data')] + SMALL)
    result = json.loads((tmp_path / 'results_lps.json').read_text())['results'][0]
    assert math.isfinite(result['test_mse'])
    args = example.parse_args(['--method', 'lps', '--sampler-norm', '--spread-weight', '0.1']
                              + SMALL)
    model = example.build_model('lps', args)
    assert model.model.spread_weight == 0.1 and model.model.sampler.norm
    assert all(conv.norm for conv in model.model.sampler.net.convs)
    with pytest.raises(ValueError, match='spread_weight'):
        example.build_model('lps', example.parse_args(['--spread-weight', '-1'] + SMALL))


def test_mpnn_backbone(tmp_path):
    r"""``--backbone mpnn``: a message-passing network symmetrized over E(3) only (it is
    permutation-equivariant itself), exactly S_n x E(3)-equivariant, and it trains."""
    from lps_geometric.nn import MPNN
    from lps_geometric.samplers import EuclideanFrameSampler, UniformRotationSampler
    example = load_example()
    assert example.parse_args([]).depth == 8                      # the transformer's
    assert example.parse_args(['--backbone', 'mpnn']).depth == 4  # the MPNN's
    args = example.parse_args(SMALL + ['--backbone', 'mpnn', '--pair-inner-product'])
    for method in ('lps', 'canonical', 'fa', 'mfa'):
        assert_equivariant(example, method, args)
    model = example.build_model('lps', args)
    assert isinstance(model.model.backbone.backbone.backbone, MPNN)
    assert type(model.model.sampler) is EuclideanFrameSampler
    assert model.model.backbone.backbone.backbone.num_layers == 1  # --depth
    assert type(example.build_model('ga', args).model.sampler) is UniformRotationSampler
    example.main(['--method', 'ga', '--backbone', 'mpnn', '--out', str(tmp_path),
                  '--root', str(tmp_path / 'data')] + SMALL)
    result = json.loads((tmp_path / 'results_ga.json').read_text())['results'][0]
    assert math.isfinite(result['test_mse']) and result['test_mse'] > 0
    assert 0.6 < result['sample_spread']['rotation'] < 1.4


@pytest.mark.parametrize('method,group', [('ga', 'S_n'), ('egnn', 'E(3)')])
def test_relaxed_training_ends_with_the_equivariant_model(tmp_path, method, group):
    import csv
    example = load_example()
    example.main(['--method', method, '--out', str(tmp_path), '--root',
                  str(tmp_path / 'data')] + SMALL +
                 ['--relax', 'linear', '--relax-start', '0.5', '--relax-end', '1',
                  '--relax-penalty', '0.1', '--relax-group', group])
    result = json.loads((tmp_path / f'results_{method}.json').read_text())['results'][0]
    assert math.isfinite(result['test_mse'])
    rows = list(csv.DictReader(open(tmp_path / f'run_{method}' / 'logs' / 'metrics.csv')))
    assert [float(r['relax_coefficient']) for r in rows] == [0.0, 0.0]
    assert all(math.isfinite(float(r['val_equivariance_error'])) for r in rows)


@pytest.mark.parametrize('method', ['egnn', 'lps'])
def test_final_model_is_equivariant_after_relaxation_and_not_when_kept_relaxed(
        tmp_path, method):
    example = load_example()
    extra = ['--backbone', 'mpnn'] if method == 'lps' else []
    relax = ['--relax', 'constant', '--relax-start', '0.5', '--relax-group', 'E(3)']
    found = {}
    for name, flags in (('unrelaxed', []), ('kept', ['--keep-relaxed'])):
        out = tmp_path / name
        example.main(['--method', method, '--out', str(out), '--root',
                      str(tmp_path / 'data')] + SMALL + extra + relax + flags)
        found[name] = json.loads((out / f'results_{method}.json').read_text())['results'][0]
    unrelaxed, kept = found['unrelaxed'], found['kept']
    assert unrelaxed['relax_coefficient_at_test'] == 0.0
    assert kept['relax_coefficient_at_test'] == 0.5        # the constant schedule's value
    # the selected model is exactly equivariant (noise moved along for LPS) ...
    assert unrelaxed['equivariance']['max_relative'] < 1e-5
    assert unrelaxed['equivariance']['noise'] == ('transported' if method == 'lps'
                                                   else 'none')
    assert kept['equivariance']['noise'] == unrelaxed['equivariance']['noise']
    # ... the relaxed one of the last step is not
    assert kept['equivariance']['relative_rms'] > 1e-3
    assert kept['equivariance']['max_relative'] > 1e-3
    assert kept['test_mse'] != unrelaxed['test_mse']


def test_keep_relaxed_needs_a_positive_last_coefficient(tmp_path):
    example = load_example()
    args = example.parse_args(SMALL + ['--relax', 'linear', '--relax-end', '1'])
    with pytest.raises(ValueError, match='already zero'):
        example.last_step_coefficient(args, 40)
    args = example.parse_args(SMALL + ['--relax', 'linear', '--relax-start', '2'])
    # 2 epochs of 2 steps: the last step is at epoch 3/2 of a schedule ending at 2
    assert example.last_step_coefficient(args, 40) == pytest.approx(2 * (1 - 0.75))
    with pytest.raises(ValueError, match='needs --relax'):
        example.last_step_coefficient(example.parse_args(SMALL), 40)


def test_plain_backbone_with_and_without_augmentation(tmp_path):
    example = load_example()
    args = example.parse_args(SMALL + ['--backbone', 'mpnn', '--augment', '--method',
                                       'plain'])
    model = example.build_model('plain', args).double()
    data = Batch.from_data_list(
        [d for d in example.NBodyCharged(str(tmp_path / 'data'), split='val',
                                         num_train=40, num_val=20, num_test=20)][:4]
    )
    for key in ('pos', 'vel', 'y', 'x', 'edge_attr', 'charge'):
        data[key] = data[key].double()
    model.eval()
    plain = model(data)
    assert torch.equal(plain, data.pos + model.backbone(data))
    model.train()
    torch.manual_seed(0)
    augmented = model(data)                     # R^T f(R x) for a random R per system
    assert not torch.allclose(augmented, plain, atol=1e-6)
    model.augment = False
    assert torch.equal(model(data), plain)
    with pytest.raises(ValueError, match='--augment applies to --method plain'):
        example.build_model('lps', args)
    with pytest.raises(SystemExit):
        example.parse_args(SMALL + ['--method', 'egnn', '--augment'])
    with pytest.raises(SystemExit):
        example.parse_args(SMALL + ['--relax', 'linear', '--relax-end', '1',
                                    '--keep-relaxed'])
    for flags in ([], ['--augment']):
        out = tmp_path / ('aug' if flags else 'plain')
        example.main(['--method', 'plain', '--backbone', 'mpnn', '--out', str(out),
                      '--root', str(tmp_path / 'data')] + SMALL + flags)
        result = json.loads((out / 'results_plain.json').read_text())['results'][0]
        assert math.isfinite(result['test_mse'])
        assert result['equivariance']['relative_rms'] > 1e-3   # not symmetrized


def test_field_and_orientation_flags_reach_the_data(tmp_path):
    example = load_example()
    example.main(['--method', 'egnn', '--out', str(tmp_path / 'out'), '--root',
                  str(tmp_path / 'data'), '--train-orientation', 'about_z',
                  '--test-orientation', 'uniform'] + SMALL)
    example.main(['--method', 'egnn', '--out', str(tmp_path / 'out'), '--root',
                  str(tmp_path / 'data'), '--field', '0', '0', '0.5'] + SMALL)
    names = sorted(p.name for p in (tmp_path / 'data' / 'nbody_charged' / 'processed')
                   .glob('*.pt'))
    assert any(n.endswith('_about_z.pt') and '_train_' in n for n in names)
    assert any(n.endswith('_uniform.pt') and '_test_' in n for n in names)
    assert any(n.endswith('_field0_0_0.5.pt') and '_test_' in n for n in names)
