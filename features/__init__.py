"""Faces to model inputs: conversion of FER-2013 into arrays of pixels, dlib
landmarks, HOG and sliding-window HOG, and the feature specification
(:class:`FeatureSpec`) that computes them for conversion, training and prediction alike."""

from .conversion import ConversionError, convert
from .io import DataError, load_arrays, load_manifest, load_split, manifest_spec
from .spec import FeatureSpec, SpecError

__all__ = [
    "ConversionError",
    "DataError",
    "FeatureSpec",
    "SpecError",
    "convert",
    "load_arrays",
    "load_manifest",
    "load_split",
    "manifest_spec",
]
