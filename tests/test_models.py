"""Models A and B: every model/feature combination builds, the fusion head is shared."""

import keras
import numpy as np
import pytest

from fer_toolkit.features.spec import FeatureSpec
from fer_toolkit.models.cnn import build_model, build_model_a, build_model_b
from fer_toolkit.parameters import FEATURE_SETS

DIMS = FeatureSpec().dimensions()


def feature_dim(feature_set):
    return sum(DIMS[n] if n != "landmarks" else 136 for n in FEATURE_SETS[feature_set])


@pytest.mark.parametrize("kind", ["A", "B"])
@pytest.mark.parametrize("feature_set", list(FEATURE_SETS))
def test_every_combination_builds_and_predicts(kind, feature_set):
    d = feature_dim(feature_set)
    model = build_model(kind, n_classes=7, feature_dim=d)
    inputs = {"image": np.zeros((3, 48, 48, 1), np.float32)}
    if d:
        inputs["features"] = np.zeros((3, d), np.float32)
    out = model.predict(inputs, verbose=0)
    assert out.shape == (3, 7)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    assert [i.name for i in model.inputs] == (["image", "features"] if d else ["image"])
    # CPU-friendly: no huge dense layer on a flattened map.
    assert model.count_params() < 3_000_000


def test_class_subsets_and_options():
    model = build_model_b(n_classes=6, feature_dim=136, batch_norm_conv=False, batch_norm_dense=False,
                          activation="elu", keep_prob=0.8)
    assert model.output.shape[-1] == 6
    assert not any(isinstance(l, keras.layers.BatchNormalization) for l in model.layers)
    with_bn = build_model_b(n_classes=6, feature_dim=136)
    assert sum(isinstance(l, keras.layers.BatchNormalization) for l in with_bn.layers) >= 8
    drop = [l for l in model.layers if isinstance(l, keras.layers.Dropout) and l.name == "head_drop"]
    assert drop and abs(drop[0].rate - 0.2) < 1e-9


def test_a_and_b_share_the_fusion_head_and_feature_branch():
    a, b = build_model_a(feature_dim=208), build_model_b(feature_dim=208)
    shared = lambda m: [(l.name, type(l).__name__, l.output.shape) for l in m.layers
                        if l.name.startswith(("feat", "head", "fusion", "probabilities"))]
    assert shared(a) == shared(b) and len(shared(a)) >= 8
    assert build_model_a().count_params() < build_model_b().count_params()
