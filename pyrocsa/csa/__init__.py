"""Layer 3, the CSA / CSA-INFO model: planar flows, exact-density time laws, the Pyro model, its objectives,
alpha selection and the :class:`~pyrocsa.csa.estimator.CSA` front. Imports :mod:`pyrocsa.errors`,
:mod:`pyrocsa.data` and :mod:`pyrocsa.core` only (see :mod:`pyrocsa`)."""
