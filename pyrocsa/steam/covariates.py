"""Generative models of a covariate table p(X): a Gaussian copula on empirical marginals, sequential
regression trees (synthpop's CART synthesiser), and an independent-marginals baseline.

The copula and the independent baseline keep each column's dtype, range and missingness: discrete columns
(text, category, bool, or numeric with at most ``max_discrete_levels`` distinct values) are sampled from
their empirical CDF, so that every value is one seen in the data; continuous columns are mapped back
through the linearly interpolated empirical quantile function (values within the observed ``[min, max]``,
rounded when the column only holds whole numbers). A column with missing values gets a 0/1 missingness
indicator, which is one more variable of the copula, so that missingness may depend on the other columns.

The copula (Nelsen, *An Introduction to Copulas*; the "Gaussian copula" synthesiser of Patki et al. 2016):

* each variable v_j (column value or missingness indicator) is turned into a uniform score
  ``u_ij = F_j(v_ij)`` -- for discrete values with the *distributional transform*
  ``u = F_j(v-) + U * (F_j(v) - F_j(v-))``, ``U ~ Uniform(0, 1)``, which makes ``u`` exactly uniform --
  and then into a normal score ``z_ij = Phi^{-1}(u_ij)``; for a row where column j is missing, ``z_ij``
  is drawn from N(0, 1) independently (which attenuates, but does not invent, correlation);
* ``R`` = the Pearson correlation of the normal scores (eigenvalues clipped at 1e-6 so that it is a valid
  correlation matrix);
* sampling: ``z ~ N(0, R)``, ``u = Phi(z)``, ``v_j = F_j^{-1}(u_j)``.

Text and categorical columns enter the copula through their level order (sorted levels, or the category
order of a pandas Categorical); their marginal is always exact, their dependence on other columns is only
captured as far as that order allows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from pyrocsa.errors import ArgumentError, DataError

__all__ = ["GaussianCopula", "IndependentMarginals", "SequentialTrees", "make_covariate_model"]

_EPS = 1e-6


@dataclass
class _Marginal:
    """One column's empirical marginal: ``kind`` is "discrete" or "continuous"."""

    name: str
    kind: str
    dtype: object
    values: np.ndarray | None   # continuous: the sorted observed values
    cdf: np.ndarray | None      # discrete: F at each level code 0..K-1 (length K)
    levels: list | None         # discrete: the level labels in code order
    integer: bool               # continuous: round the samples

    def uniform_scores(self, codes_or_values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Observed values -> uniform scores in (0, 1) (distributional transform for discrete)."""
        if self.kind == "discrete":
            upper = self.cdf[codes_or_values]
            lower = np.where(codes_or_values > 0, self.cdf[np.maximum(codes_or_values - 1, 0)], 0.0)
            u = lower + rng.uniform(size=len(codes_or_values)) * (upper - lower)
        else:
            n = len(self.values)
            # mid-ranks / (n + 1): the usual pseudo-observations of a copula fit
            u = stats.rankdata(codes_or_values) / (n + 1)
        return np.clip(u, _EPS, 1 - _EPS)

    def quantile(self, u: np.ndarray) -> np.ndarray:
        """Uniform scores -> values (codes for discrete columns)."""
        if self.kind == "discrete":
            codes = np.searchsorted(self.cdf, u, side="left")
            return np.minimum(codes, len(self.cdf) - 1)
        v = np.quantile(self.values, u, method="linear")
        return np.round(v) if self.integer else v


def _check_table(df, columns, what: str) -> list[str]:
    """The validated column list of a covariate model's ``fit(df, columns)``."""
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    columns = list(df.columns) if columns is None else list(columns)
    if not columns:
        raise DataError("columns: no columns to model")
    miss = [c for c in columns if c not in df.columns]
    if miss:
        raise DataError(f"columns: column(s) {miss} not in the frame")
    if len(df) < 2:
        raise DataError(f"df: need at least 2 rows to fit {what}, got {len(df)}")
    return columns


def _check_sample(model, n, fitted_attr: str) -> int:
    """``n`` of a covariate model's ``sample(n)``, after checking that the model is fitted (has the
    attribute ``fitted_attr``, set last by its ``fit``)."""
    if not hasattr(model, fitted_attr):
        raise RuntimeError(f"{type(model).__name__} is not fitted: call fit(df) first")
    if int(n) != n or n < 1:
        raise ArgumentError(f"n must be a positive integer, got {n!r}")
    return int(n)


def _is_discrete_numeric(v: np.ndarray, max_levels: int) -> bool:
    return len(np.unique(v)) <= max_levels


class GaussianCopula:
    """Gaussian copula on empirical marginals for a mixed-type table (see the module docstring).

    Parameters
    ----------
    max_discrete_levels : numeric columns with at most this many distinct observed values are treated
        as discrete (sampled only among observed values).
    independent : if True, the correlation matrix is the identity (the independent-marginals baseline).

    After :meth:`fit`: ``columns_`` (column order), ``marginals_`` (one per column), ``missing_cols_``
    (columns with a missingness indicator) and ``correlation_`` (V, V) over the copula variables
    (columns first, then indicators).
    """

    def __init__(self, max_discrete_levels: int = 20, independent: bool = False):
        if int(max_discrete_levels) < 1:
            raise ArgumentError(f"max_discrete_levels must be >= 1, got {max_discrete_levels}")
        self.max_discrete_levels = int(max_discrete_levels)
        self.independent = bool(independent)

    # -- fitting ---------------------------------------------------------------------------------------
    def fit(self, df: pd.DataFrame, columns: list[str] | None = None, seed: int = 0) -> GaussianCopula:
        """Fit the marginals and the copula on ``df[columns]`` (default: all columns). ``df`` is not
        modified. ``seed`` drives the distributional-transform jitter and the missing-row scores."""
        columns = _check_table(df, columns, "a copula")
        rng = np.random.default_rng(seed)
        self.columns_ = columns
        self.marginals_: dict[str, _Marginal] = {}
        scores, indicators = [], []
        self.missing_cols_: list[str] = []
        self.indicators_: dict[str, _Marginal] = {}
        for col in columns:
            s = df[col]
            mask = s.isna().to_numpy()
            if mask.all():
                raise DataError(f"column '{col}' has no non-missing values")
            marg, obs = self._fit_marginal(col, s[~mask])
            self.marginals_[col] = marg
            z = rng.standard_normal(len(df))  # missing rows: independent N(0, 1) scores
            z[~mask] = stats.norm.ppf(marg.uniform_scores(obs, rng))
            scores.append(z)
            if mask.any():
                self.missing_cols_.append(col)
                ind = _Marginal(f"{col}__missing", "discrete", np.int64, None,
                                np.array([1 - mask.mean(), 1.0]), [0, 1], False)
                self.indicators_[col] = ind
                indicators.append(stats.norm.ppf(ind.uniform_scores(mask.astype(int), rng)))
        z = np.column_stack(scores + indicators)
        n_var = z.shape[1]
        if self.independent or n_var == 1:
            corr = np.eye(n_var)
        else:
            corr = np.corrcoef(z, rowvar=False)
            corr = np.nan_to_num(corr, nan=0.0)
            np.fill_diagonal(corr, 1.0)
            w, v = np.linalg.eigh(corr)
            corr = (v * np.maximum(w, 1e-6)) @ v.T
            d = np.sqrt(np.diag(corr))
            corr = corr / np.outer(d, d)
        self.correlation_ = corr
        self.n_train_ = len(df)
        return self

    def _fit_marginal(self, col: str, s: pd.Series) -> tuple[_Marginal, np.ndarray]:
        dtype = s.dtype
        is_numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        if is_numeric:
            v = s.to_numpy(dtype=float)
            if not np.isfinite(v).all():
                raise DataError(f"column '{col}' contains inf values")
            if not _is_discrete_numeric(v, self.max_discrete_levels):
                integer = bool(np.all(v == np.round(v)))
                marg = _Marginal(col, "continuous", dtype, np.sort(v), None, None, integer)
                return marg, v
            levels = list(np.unique(v))
        elif isinstance(dtype, pd.CategoricalDtype):
            levels = [lv for lv in dtype.categories if (s == lv).any()]
        else:
            try:
                levels = sorted(pd.unique(s))
            except TypeError as err:
                raise DataError(f"column '{col}' has values that cannot be ordered: {err}") from err
        lookup = {lv: i for i, lv in enumerate(levels)}
        raw = s.to_numpy(dtype=float) if is_numeric else s.to_numpy()
        codes = np.array([lookup[x] for x in raw], dtype=int)
        cdf = np.cumsum(np.bincount(codes, minlength=len(levels))) / len(codes)
        cdf[-1] = 1.0
        return _Marginal(col, "discrete", dtype, None, cdf, levels, False), codes

    # -- sampling --------------------------------------------------------------------------------------
    def sample(self, n: int, seed: int | None = None) -> pd.DataFrame:
        """Draw ``n`` synthetic rows: a DataFrame with the fitted columns, in order, and their dtypes."""
        n = _check_sample(self, n, "n_train_")
        rng = np.random.default_rng(seed)
        z = rng.multivariate_normal(np.zeros(len(self.correlation_)), self.correlation_, size=n,
                                    method="eigh")
        u = np.clip(stats.norm.cdf(z), _EPS, 1 - _EPS)
        out = {}
        n_cols = len(self.columns_)
        for j, col in enumerate(self.columns_):
            marg = self.marginals_[col]
            q = marg.quantile(u[:, j])
            if marg.kind == "discrete":
                vals = pd.Series([marg.levels[k] for k in q], dtype=object)
            else:
                vals = pd.Series(q)
            if col in self.missing_cols_:
                k = n_cols + self.missing_cols_.index(col)
                is_missing = self.indicators_[col].quantile(u[:, k]) == 1
                vals = vals.where(~is_missing, None)
            out[col] = _restore_dtype(vals, marg)
        return pd.DataFrame(out, columns=self.columns_)


def _restore_dtype(vals: pd.Series, marg: _Marginal) -> pd.Series:
    dtype = marg.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return pd.Series(pd.Categorical(vals, categories=dtype.categories, ordered=dtype.ordered))
    if pd.api.types.is_bool_dtype(dtype) and not vals.isna().any():
        return vals.astype(bool)
    if pd.api.types.is_numeric_dtype(dtype):
        v = pd.to_numeric(vals, errors="coerce")
        if vals.isna().any() and pd.api.types.is_integer_dtype(dtype) and not \
                pd.api.types.is_extension_array_dtype(dtype):
            return v.astype(float)
        return v.astype(dtype)
    return vals if pd.api.types.is_object_dtype(dtype) else vals.astype(dtype)


class IndependentMarginals(GaussianCopula):
    """Baseline: every column (and missingness indicator) sampled independently from its empirical
    marginal -- a :class:`GaussianCopula` with the identity correlation matrix."""

    def __init__(self, max_discrete_levels: int = 20):
        super().__init__(max_discrete_levels=max_discrete_levels, independent=True)


class SequentialTrees:
    """Sequential CART synthesiser (Reiter 2005; the default method of the R package synthpop, Nowok et
    al. 2016): p(X) = p(x_1) p(x_2 | x_1) ... p(x_p | x_1..x_{p-1}), each conditional a regression tree.

    Fitting: for column j >= 2, a ``DecisionTreeRegressor`` (``min_samples_leaf`` rows per leaf) predicts
    column j from columns 1..j-1 (inputs: numeric values, level codes for text / categorical / bool
    columns, missing inputs filled with the column median plus a 0/1 missingness input; target: the
    column's value or code with a missingness indicator as a second output). Sampling: x_1 is drawn from
    its empirical distribution; for j >= 2 each synthetic row is dropped down tree j and takes the value of
    column j from a training row drawn at random from the same leaf ("donor"). Every sampled value, missing
    value included, is therefore one observed in that column (types, levels, ranges and missingness are
    kept exactly), and non-linear, non-monotone dependence is kept as far as the trees resolve it -- which a
    Gaussian copula cannot. Columns are
    synthesised in the given order. The fitted object holds the training rows (``data_``): share the
    synthetic data, never the fitted generator.

    Parameters
    ----------
    min_samples_leaf : donors per leaf at least (default 20; synthpop's ``minbucket`` is 5): larger is
        smoother and further from individual records, smaller is more faithful. With 5, a row whose
        columns are all drawn from small leaves can land on (or next to) one training patient; 20 keeps
        the synthetic rows as far from the training patients as new patients are (distance to the
        closest record, membership-inference AUC) at no measurable loss of fidelity on ACTG and
        actg-Synthetic (docs/decisions.md, "STEAM covariate trees: leaves of 20").
    """

    def __init__(self, min_samples_leaf: int = 20):
        if int(min_samples_leaf) < 1:
            raise ArgumentError(f"min_samples_leaf must be >= 1, got {min_samples_leaf}")
        self.min_samples_leaf = int(min_samples_leaf)

    @staticmethod
    def _encode(s: pd.Series) -> np.ndarray:
        """A column as floats: numeric values, or level codes (NaN where missing)."""
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            v = s.to_numpy(dtype=float)
            if np.isinf(v).any():
                raise DataError(f"column '{s.name}' contains inf values")
            return v
        codes = pd.Series(pd.Categorical(s)).cat.codes.to_numpy().astype(float)
        codes[codes < 0] = np.nan
        return codes

    @staticmethod
    def _inputs(enc: np.ndarray, fill: np.ndarray, has_missing: np.ndarray) -> np.ndarray:
        """(n, j) encoded columns -> tree inputs: NaN filled, plus a missingness input where needed."""
        miss = np.isnan(enc)
        filled = np.where(miss, fill[None, :], enc)
        return np.column_stack([filled, miss[:, has_missing].astype(float)])

    def fit(self, df: pd.DataFrame, columns: list[str] | None = None, seed: int = 0) -> SequentialTrees:
        """Fit the trees on ``df[columns]`` (default: all columns); ``df`` is not modified."""
        from sklearn.tree import DecisionTreeRegressor

        columns = _check_table(df, columns, "the trees")
        for col in columns:
            if df[col].isna().all():
                raise DataError(f"column '{col}' has no non-missing values")
        self.columns_ = columns
        self.data_ = df[columns].reset_index(drop=True).copy()
        enc = np.column_stack([self._encode(self.data_[c]) for c in columns])
        self.encoded_ = enc
        self.fill_ = np.nan_to_num(np.nanmedian(enc, axis=0))
        self.has_missing_ = np.isnan(enc).any(axis=0)
        self.trees_, self.donors_ = [], []
        for j in range(1, len(columns)):
            x = self._inputs(enc[:, :j], self.fill_[:j], self.has_missing_[:j])
            y = enc[:, j]
            target = np.column_stack([np.where(np.isnan(y), self.fill_[j], y), np.isnan(y)])
            tree = DecisionTreeRegressor(min_samples_leaf=self.min_samples_leaf, random_state=seed)
            leaves = tree.fit(x, target).apply(x)
            order = np.argsort(leaves, kind="stable")
            ids, starts = np.unique(leaves[order], return_index=True)
            self.trees_.append(tree)
            self.donors_.append((ids, np.append(starts, len(order)), order))
        self.n_train_ = len(df)
        return self

    def sample(self, n: int, seed: int | None = None) -> pd.DataFrame:
        """Draw ``n`` synthetic rows: a DataFrame with the fitted columns, in order, and their dtypes."""
        n = _check_sample(self, n, "n_train_")
        rng = np.random.default_rng(seed)
        donor = np.empty((n, len(self.columns_)), dtype=int)  # training row giving each value
        donor[:, 0] = rng.integers(0, self.n_train_, n)
        enc = np.empty((n, len(self.columns_)))
        enc[:, 0] = self.encoded_[donor[:, 0], 0]
        for j, (tree, (ids, bounds, order)) in enumerate(zip(self.trees_, self.donors_), start=1):
            x = self._inputs(enc[:, :j], self.fill_[:j], self.has_missing_[:j])
            k = np.searchsorted(ids, tree.apply(x))
            lo, size = bounds[k], bounds[k + 1] - bounds[k]
            donor[:, j] = order[lo + (rng.random(n) * size).astype(int)]
            enc[:, j] = self.encoded_[donor[:, j], j]
        return pd.DataFrame({c: self.data_[c].iloc[donor[:, j]].reset_index(drop=True)
                             for j, c in enumerate(self.columns_)}, columns=self.columns_)


def make_covariate_model(spec) -> object:
    """``"copula"`` -> :class:`GaussianCopula`, ``"trees"`` -> :class:`SequentialTrees`,
    ``"independent"`` -> :class:`IndependentMarginals`, or any object with ``fit(df, columns=)`` and
    ``sample(n, seed=)`` (returned unchanged)."""
    if isinstance(spec, str):
        if spec == "copula":
            return GaussianCopula()
        if spec == "trees":
            return SequentialTrees()
        if spec == "independent":
            return IndependentMarginals()
        raise DataError(f"covariate_model={spec!r}: expected 'copula', 'trees', 'independent' or an object "
                         "with fit(df, columns=) and sample(n, seed=)")
    if not (callable(getattr(spec, "fit", None)) and callable(getattr(spec, "sample", None))):
        raise DataError(f"covariate_model: {type(spec).__name__} has no fit(df, columns=) / "
                         "sample(n, seed=)")
    return spec
