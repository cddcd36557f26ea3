"""Ensembles shipped as one bundle: several CNN bundles' networks averaged inside one Keras model.

``Recognizer([a, b])`` and ``--model a --model b`` average bundles at run time; this module
writes such an average as a single bundle, so that one name (``--model ferplus``) stands for it
everywhere a bundle is taken: prediction, evaluation, video, the web app and LiteRT's fast path.
The merged model holds only built-in layers (each member as a nested model, a ``Normalization``
that turns the first member's standardised features into each other member's, an ``Average``),
so it loads with Keras' ``safe_mode``.
"""

import os

import numpy as np

from ..features.util import atomic_write_json
from .backend import import_keras
from .bundle import BUNDLE_JSON, Bundle, BundleError, check_weights, is_shipped, load_bundle, save_model


def check_ensemble(bundles):
    """Refuse, in one line, bundles that cannot be averaged as an ensemble.

    Parameters
    ----------
    bundles : sequence of models.bundle.Bundle

    Raises
    ------
    BundleError
        Members with other classes (or another order), or that crop faces
        from a photo differently (their crops would not be the same faces).
    """
    first = bundles[0]
    for other in bundles[1:]:
        if list(other.classes) != list(first.classes):
            raise BundleError(f"ensemble: {other.path} has classes {', '.join(other.classes)}, but {first.path} "
                              f"has {', '.join(first.classes)}")
        crop = [d for d in first.spec.differences(other.spec)
                if d.startswith(("crop_", "image_size "))]
        if crop:
            raise BundleError(f"ensemble: {other.path} crops faces differently from {first.path} ({'; '.join(crop)})")


#: The ``bundle.json`` record of each member that an ensemble bundle keeps (``ensemble.members``).
MEMBER_FIELDS = ("train_args", "metrics", "model", "parameters", "data_sha256", "init")


def check_members(bundles):
    """Refuse, in one line, bundles that cannot be merged into one model.

    Parameters
    ----------
    bundles : sequence of models.bundle.Bundle

    Raises
    ------
    BundleError
        Fewer than two, not all CNNs, an ensemble bundle among them, what :func:`check_ensemble`
        refuses (other classes, another crop), or another feature specification than the first's
        (one set of features feeds every member).
    """
    if len(bundles) < 2:
        raise BundleError("an ensemble bundle needs at least two model bundles")
    for bundle in bundles:
        if bundle.kind != "cnn":
            raise BundleError(f"ensemble: {bundle.path} is an SVM; only CNN bundles merge into one model")
        if ensemble_members(bundle.meta):
            raise BundleError(f"ensemble: {bundle.path} is an ensemble bundle already; merge the run folders "
                              f"of its members instead")
    check_ensemble(bundles)  # the classes and the crop, as for any ensemble
    first = bundles[0]
    for bundle in bundles[1:]:
        differences = first.spec.differences(bundle.spec)
        if bundle.feature_set != first.feature_set:
            differences.insert(0, f"feature set {first.feature_set} vs {bundle.feature_set}")
        if differences:
            raise BundleError(f"ensemble: {bundle.path} computes its inputs differently from {first.path} "
                              f"({'; '.join(differences)})")


def ensemble_model(bundles):
    """One Keras model whose output is the mean of the members' probabilities.

    Parameters
    ----------
    bundles : sequence of models.bundle.Bundle
        CNN bundles with the same classes and feature specification (:func:`check_members`).

    Returns
    -------
    keras.Model
        Inputs ``image`` and (when the members use features) ``features``, standardised with the
        first member's statistics; each other member gets its own standardisation back from
        them: ``(x - (m_i - m_1) / s_1) / (s_i / s_1)`` equals ``(f - m_i) / s_i`` for
        ``x = (f - m_1) / s_1``.
    """
    keras = import_keras()
    check_members(bundles)
    first = bundles[0]
    size = first.spec.image_size
    n_features = len(first.standardizer.mean)
    image = keras.Input(shape=(size, size, 1), name="image")
    inputs = [image]
    if n_features:
        features = keras.Input(shape=(n_features,), name="features")
        inputs.append(features)
    outputs = []
    for i, bundle in enumerate(bundles):
        member = keras.Model(bundle.model.inputs, bundle.model.outputs[0], name=f"member_{i}")
        names = [t.name.split(":")[0] for t in bundle.model.inputs]
        given = {"image": image}
        if n_features:
            mean1, std1 = first.standardizer.mean.astype(np.float64), first.standardizer.std.astype(np.float64)
            mean, std = bundle.standardizer.mean.astype(np.float64), bundle.standardizer.std.astype(np.float64)
            given["features"] = features if i == 0 else keras.layers.Normalization(
                mean=(mean - mean1) / std1, variance=(std / std1) ** 2, name=f"standardise_{i}")(features)
        outputs.append(member([given[name] for name in names]))
    return keras.Model(inputs, keras.layers.Average(name="mean_probabilities")(outputs), name="ensemble")


def member_record(bundle):
    """What an ensemble bundle's ``bundle.json`` keeps of one member."""
    name = os.path.basename(os.path.normpath(bundle.path)) if is_shipped(bundle.path) else os.path.abspath(bundle.path)
    return {"from": name, **{k: bundle.meta[k] for k in MEMBER_FIELDS if k in bundle.meta}}


def export_ensemble(run_dirs, dest, weights="float32"):
    """Write several CNN bundles as one ensemble bundle (no optimizer state), e.g. to ship it.

    Parameters
    ----------
    run_dirs : sequence of str
        ``fer-train`` run folders or bundles (shipped names too), at least two, with the same
        classes and feature specification. The first gives the bundle's classes, features and
        standardisation.
    dest : str
        Folder to write ``bundle.json`` and ``model.keras`` to.
    weights : {"float32", "float16"}, optional
        How the weights are stored (:func:`models.bundle.save_keras`).

    Returns
    -------
    models.bundle.Bundle
        The written bundle, loaded back.

    Raises
    ------
    BundleError
        Members that cannot be merged (:func:`check_members`).
    """
    check_weights(weights)
    bundles = [load_bundle(path) for path in run_dirs]
    model = ensemble_model(bundles)
    meta = {k: v for k, v in bundles[0].meta.items() if k not in MEMBER_FIELDS}
    meta.update(metrics={}, parameters=int(model.count_params()),
                ensemble={"members": [member_record(b) for b in bundles]})
    os.makedirs(dest, exist_ok=True)
    save_model(dest, model, "cnn", weights)
    atomic_write_json(os.path.join(dest, BUNDLE_JSON), meta)
    return load_bundle(dest)


def ensemble_members(meta):
    """The members recorded in a ``bundle.json`` (``[]`` for a single network)."""
    return list((meta.get("ensemble") or {}).get("members", []))


def member_meta(meta):
    """The ``bundle.json`` contents of an ensemble bundle's first member (``meta`` itself for a single
    network): its standardisation and features are the ensemble's, its training record its own."""
    members = ensemble_members(meta)
    if not members:
        return meta
    first = {k: v for k, v in meta.items() if k != "ensemble"}
    first.update({k: members[0][k] for k in MEMBER_FIELDS if k in members[0]})
    return first


def first_member(bundle):
    """An ensemble bundle's first network as a bundle of its own (``fer-train --init`` starts from it);
    a single network's bundle as it is.

    Parameters
    ----------
    bundle : models.bundle.Bundle

    Returns
    -------
    models.bundle.Bundle
    """
    if not ensemble_members(bundle.meta):
        return bundle
    return Bundle(bundle.path, member_meta(bundle.meta), bundle.model.get_layer("member_0"))
