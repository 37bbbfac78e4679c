"""Layer 5, judging estimates: metrics against truth or data (:mod:`pyrocsa.evaluation.metrics`) and
cross-fitted doubly robust contrasts (:mod:`pyrocsa.evaluation.doubly_robust`). Imports the layers below it
only (see :mod:`pyrocsa`)."""
