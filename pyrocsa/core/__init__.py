"""Layer 2, shared by every estimator: the estimator contract, nets and the IPM, the training loop (devices,
data parallel, streaming), sampling, :class:`~pyrocsa.core.outcomes.PotentialOutcomes` with its estimands,
the generic :class:`~pyrocsa.core.ensemble.Ensemble` and the saved-model format. Imports only
:mod:`pyrocsa.errors` and :mod:`pyrocsa.data` from the rest of the package (see :mod:`pyrocsa`)."""
