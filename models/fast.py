"""The classifier call of a few faces at a time, without Keras' per-call overhead.

A CNN bundle's Keras model is converted once to LiteRT (TensorFlow Lite,
float32, no quantisation) and run by its interpreter with XNNPACK, which
costs about half of ``predict_on_batch`` for one face on two cores
(BENCHMARKS.md, "Where the time goes"); the probabilities equal Keras' to
about 1e-6. Video frames may use a second conversion whose weights are
quantised to 8 bits (LiteRT's dynamic-range quantisation: the activations stay
float), three to four times as fast again, whose labels differ from float32's
on at most 0.3% of the test faces (BENCHMARKS.md, "An 8-bit classifier for video").
The converted model is cached in the user's cache folder under the hash of
the bundle's model file, so only the first use of a bundle pays the
conversion (about a second). Anything that cannot be converted or run this
way falls back to ``predict_on_batch``, the evaluation path.
"""

import contextlib
import hashlib
import os
import warnings

import numpy as np

from ..features.util import atomic_path, quiet_stderr, user_cache_dir
from ..parameters import VIDEO

from .backend import import_tensorflow
from .bundle import MODEL_FILES, model_inputs


def _interpreter_class():
    """LiteRT's interpreter: ``ai_edge_litert``'s if installed, else TensorFlow's own."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        tf = import_tensorflow()
        return tf.lite.Interpreter


def _convert(model, quantized=False):
    """The LiteRT flatbuffer of a Keras model: float32 as is, or with its
    weights quantised to 8 bits (``quantized``; dynamic-range quantisation)."""
    tf = import_tensorflow()

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantized:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    # Keras' export prints "Saved artifact at ..." and the converter logs: none of it may reach a
    # command's output (fer-predict --json prints JSON alone).
    with warnings.catch_warnings(), open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull), \
            quiet_stderr():
        warnings.simplefilter("ignore")
        return converter.convert()


def cached_flatbuffer(name, convert, cache_dir=None, fresh=False):
    """A LiteRT flatbuffer from the cache, or made by ``convert()`` now and cached.

    Parameters
    ----------
    name : str
        The cache file's name: it must change with whatever the flatbuffer is
        made from (the weights' hash, TensorFlow's version).
    convert : callable
        ``convert()`` returns the flatbuffer's bytes.
    cache_dir : str, optional
        Default: ``user_cache_dir("litert")``.
    fresh : bool, optional
        Convert (and cache) again even if the cache has it.

    Returns
    -------
    bytes

    Notes
    -----
    The cache file holds the flatbuffer's SHA-256 before it: LiteRT does not
    verify a model, and a damaged one can crash the process instead of
    raising, so a file whose bytes do not match is converted again. A cache
    that cannot be written is not an error (the next process converts again).
    """
    path = os.path.join(cache_dir or user_cache_dir("litert"), name)
    try:
        if not fresh:
            with open(path, "rb") as f:
                stored = f.read()
            if hashlib.sha256(stored[32:]).digest() == stored[:32]:
                return stored[32:]
    except OSError:
        pass
    flatbuffer = convert()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            f.write(hashlib.sha256(flatbuffer).digest() + flatbuffer)
    except OSError:  # a read-only cache: convert again next time
        pass
    return flatbuffer


def litert_model(bundle, cache_dir=None, fresh=False, quantized=False):
    """The LiteRT flatbuffer of a CNN bundle, from the cache or converted now.

    Parameters
    ----------
    bundle : models.bundle.Bundle
    cache_dir : str, optional
        Default: ``user_cache_dir("litert")``.
    fresh : bool, optional
        Convert (and cache) again even if the cache has it.
    quantized : bool, optional
        Weights quantised to 8 bits (:func:`_convert`), cached apart from the float32 model.

    Returns
    -------
    bytes
        Cached under the hash of the bundle's model file (:func:`cached_flatbuffer`).
    """
    tf = import_tensorflow()

    with open(os.path.join(bundle.path, MODEL_FILES["cnn"]), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    name = f"{digest[:32]}-tf{tf.__version__}{'-q8' if quantized else ''}.tflite"
    return cached_flatbuffer(name, lambda: _convert(bundle.model, quantized), cache_dir, fresh)


class ClassifierRunner:
    """Probabilities of standardised model inputs, fast for small batches.

    Batches of up to ``max_batch`` faces run on LiteRT interpreters (one per
    batch size, made on first use); larger ones, SVM bundles, and bundles
    whose model LiteRT cannot take run on Keras' ``predict_on_batch``. Not
    thread-safe: callers serialise calls (as :class:`Recognizer` does).

    Parameters
    ----------
    bundle : models.bundle.Bundle
    max_batch : int, optional
        Largest batch for LiteRT (0: never use it).
    threads : int, optional
        Interpreter threads (0: one per core).
    cache_dir : str, optional
        Where converted models are kept (:func:`litert_model`).
    quantized : bool, optional
        LiteRT runs the model with its weights quantised to 8 bits (video
        frames: three to four times as fast, labels equal to float32's on all but
        0.3% of the test faces at most); larger batches still run on Keras in float32.
    """

    def __init__(self, bundle, max_batch=VIDEO.litert_max_batch, threads=0, cache_dir=None, quantized=False):
        self.bundle = bundle
        self.max_batch = max_batch if bundle.kind == "cnn" else 0
        self.threads = threads or os.cpu_count() or 1
        self.cache_dir = cache_dir
        self.quantized = quantized
        self._flatbuffer = None
        self._interpreters = {}
        self._failed = None

    @property
    def backend(self):
        """``"litert"``, ``"litert-q8"`` (weights quantised) or ``"keras"``: what small batches run on."""
        if not self.max_batch or self._failed is not None:
            return "keras"
        return "litert-q8" if self.quantized else "litert"

    def _interpreter(self, batch):
        """The interpreter for a batch size (made on first use), with its input and output indices."""
        if batch not in self._interpreters:
            if self._flatbuffer is None:
                self._flatbuffer = litert_model(self.bundle, self.cache_dir, quantized=self.quantized)
                try:
                    return self._make_interpreter(batch)
                except Exception:  # a damaged cache file: convert again
                    self._flatbuffer = litert_model(self.bundle, self.cache_dir, fresh=True, quantized=self.quantized)
            return self._make_interpreter(batch)
        return self._interpreters[batch]

    def _make_interpreter(self, batch):
        """Make and keep the interpreter of a batch size."""
        # TensorFlow's interpreter warns that it is deprecated, and LiteRT announces XNNPACK on stderr.
        with warnings.catch_warnings(), quiet_stderr():
            warnings.simplefilter("ignore")
            interpreter = _interpreter_class()(model_content=self._flatbuffer, num_threads=self.threads)
            inputs = {}
            for detail in interpreter.get_input_details():
                name = "image" if len(detail["shape"]) == 4 else "features"
                interpreter.resize_tensor_input(detail["index"], [batch, *detail["shape"][1:]], strict=False)
                inputs[name] = detail["index"]
            interpreter.allocate_tensors()
        self._interpreters[batch] = (interpreter, inputs, interpreter.get_output_details()[0]["index"])
        return self._interpreters[batch]

    def litert(self, inputs):
        """Probabilities from LiteRT (raises on failure; :meth:`predict_proba` falls back to Keras)."""
        n = len(inputs["image"])
        interpreter, indices, output = self._interpreter(n)
        for name, index in indices.items():
            interpreter.set_tensor(index, np.ascontiguousarray(inputs[name], dtype=np.float32))
        interpreter.invoke()
        return np.array(interpreter.get_tensor(output), dtype=np.float32)

    def predict_proba(self, images, features):
        """Class probabilities, as :meth:`models.bundle.Bundle.predict_proba` gives them.

        Parameters
        ----------
        images : (N, S, S) uint8 ndarray
        features : (N, D) ndarray
            Raw stacked features of the bundle's feature set.

        Returns
        -------
        (N, K) float32 ndarray
        """
        if 0 < len(images) <= self.max_batch and self._failed is None:
            try:
                return self.litert(model_inputs(images, self.bundle.standardizer(features)))
            except Exception as e:  # conversion or runtime trouble: the Keras path still works
                self._failed = f"{type(e).__name__}: {str(e)[:200]}"
        return self.bundle.predict_proba(images, features)
