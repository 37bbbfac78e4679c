"""The data layer: frames in, validated tensors out, and the data sets pyrocsa ships or simulates.

* :mod:`pyrocsa.data.frame` -- frame validation, :class:`Preprocessor`, :class:`SurvivalData`, the splits
  (:func:`stratified_split`, :func:`validation_split`) and the observed/covariate frames of a result
  (re-exported here: ``from pyrocsa.data import SurvivalData`` keeps working);
* :mod:`pyrocsa.data.actg` -- the ACTG 175 trial and the paper's ``actg`` subset (the files);
* :mod:`pyrocsa.data.simulate` -- the paper's Gompertz-Cox simulator with exact truth;
* :mod:`pyrocsa.data.actg_synthetic` -- the authors' actg-Synthetic preset (files + simulator truth);
* :mod:`pyrocsa.data.trials` -- public trials read at run time from lifelines, scikit-survival and SurvSet
  (the ``pyrocsa[trials]`` extra), plus ACTG 175 arms 2 vs 0.

Imports only :mod:`pyrocsa.errors` from the rest of the package.
"""

from pyrocsa.data.frame import (
    MIN_ROWS,
    VALIDATION_FRACTION,
    Preprocessor,
    SurvivalData,
    covariate_frame,
    decode_label,
    encode_label,
    observed_frame,
    stratified_split,
    validate_duration,
    validate_event,
    validate_outcome_columns,
    validate_treatment,
    validation_split,
)

__all__ = ["Preprocessor", "SurvivalData", "stratified_split", "validation_split", "observed_frame",
           "covariate_frame", "validate_duration", "validate_event", "validate_treatment",
           "validate_outcome_columns", "MIN_ROWS", "VALIDATION_FRACTION", "encode_label", "decode_label"]
