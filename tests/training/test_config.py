import json

import pytest

from lps_geometric.training import TrainConfig
from lps_geometric.training.config import RUNTIME_FIELDS, RunFolderError


@pytest.mark.parametrize('field,value,message', [
    ('epochs', 0, "'epochs' must be >= 1"),
    ('epochs', 2.5, "'epochs' must be an integer"),
    ('batch_size', True, "'batch_size' must be an integer"),
    ('eval_batch_size', -1, "'eval_batch_size' must be >= 1"),
    ('seed', -3, "'seed' must be >= 0"),
    ('checkpoint_every', -1, "'checkpoint_every' must be >= 0"),
    ('stop_after_steps', 0, "'stop_after_steps' must be >= 1"),
    ('lr', -1e-3, "'lr' must lie in"),
    ('lr', float('nan'), "'lr' must be a finite number"),
    ('weight_decay', -0.1, "'weight_decay' must lie in"),
    ('warmup', 1.0, "'warmup' must lie in"),
    ('clip', -1.0, "'clip' must lie in"),
    ('ema', 1.0, "'ema' must lie in"),
    ('schedule', 'step', "'schedule' must be one of"),
    ('precision', 'fp8', "'precision' must be one of"),
    ('select', 'best', "'select' must be one of"),
    ('extra', [1], "'extra' must be a dict"),
])
def test_config_values_are_range_checked(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})


def test_a_stored_config_with_a_bad_value_is_a_run_folder_error(tmp_path):
    path = tmp_path / 'config.json'
    TrainConfig(epochs=3).save(path)
    path.write_text(path.read_text().replace('"epochs": 3', '"epochs": -3'))
    with pytest.raises(RunFolderError, match="invalid setting.*'epochs' must be >= 1"):
        TrainConfig.load(path)


def test_save_load_round_trip_and_differences(tmp_path):
    config = TrainConfig(epochs=4, lr=3e-4, extra=dict(model='lps', width=64))
    path = tmp_path / 'config.json'
    config.save(path)
    loaded = TrainConfig.load(path)
    assert loaded == config and loaded.differences(config) == {}
    other = TrainConfig(epochs=5, lr=3e-4, out_dir='elsewhere', progress=False,
                        extra=dict(model='mfa', depth=2))
    assert 'out_dir' in RUNTIME_FIELDS and 'progress' in RUNTIME_FIELDS
    assert config.differences(other) == {
        'epochs': (4, 5), 'extra.model': ('lps', 'mfa'), 'extra.width': (64, None),
        'extra.depth': (None, 2)}
    assert 'out_dir' in config.differences(other, ignore=())


@pytest.mark.parametrize('text,message', [
    (None, 'does not exist'),
    ('{not json', 'not a readable configuration'),
    ('[1, 2]', 'a JSON object was expected'),
    ('{"epochs": 2, "colour": "red"}', 'Unknown settings'),
])
def test_unreadable_stored_configs_are_run_folder_errors(tmp_path, text, message):
    path = tmp_path / 'config.json'
    if text is not None:
        path.write_text(text)
    with pytest.raises(RunFolderError, match=message):
        TrainConfig.load(path)


def test_json_dict_holds_lists_not_tuples():
    data = TrainConfig().to_json_dict()
    assert json.loads(json.dumps(data)) == data
