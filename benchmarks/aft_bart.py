"""The Bayesian anchor of ``effect_intervals``: an AFT-BART S-learner (Henderson et al., Biostatistics 2020).

    log T = f(x, a, e(x)) + sigma * eps,   eps ~ Normal(0, 1),   f ~ BART (pymc-bart, 50 trees),

fitted to right-censored durations by the censored normal likelihood on log time (``pm.Censored``), with
the estimated propensity e(x) (logistic regression on the fitting rows) as a covariate (Hahn et al. 2020).
A patient's effect at horizon h is RMST_1 - RMST_0 of the two log-normal laws, per posterior draw:

    E[min(T, h)] = exp(mu + sigma^2 / 2) Phi((log h - mu - sigma^2) / sigma)
                   + h (1 - Phi((log h - mu) / sigma)).

Benchmark only: pymc and pymc-bart are not dependencies of pyrocsa (``pip install pymc-bart``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtr
from sklearn.linear_model import LogisticRegression


class AFTBart:
    def __init__(self, trees: int = 50, draws: int = 500, tune: int = 500, chains: int = 2, seed: int = 0):
        self.trees, self.draws, self.tune, self.chains, self.seed = trees, draws, tune, chains, seed

    def _design(self, df: pd.DataFrame, treatment) -> np.ndarray:
        x = df[self.covariates_].to_numpy(float)
        x = (x - self.mean_) / self.scale_
        e = self.propensity_.predict_proba(x)[:, 1]
        a = np.full(len(df), float(treatment)) if np.isscalar(treatment) else np.asarray(treatment, float)
        return np.column_stack([x, a, e])

    def fit(self, df, duration_col, event_col, treatment_col, covariates):
        import pymc as pm
        import pymc_bart as pmb

        self.covariates_ = list(covariates)
        x = df[self.covariates_].to_numpy(float)
        self.mean_, self.scale_ = x.mean(0), np.where(x.std(0) > 0, x.std(0), 1.0)
        a = df[treatment_col].to_numpy(float)
        self.propensity_ = LogisticRegression(max_iter=1000).fit((x - self.mean_) / self.scale_, a)
        xa = self._design(df, a)
        y = np.log(df[duration_col].to_numpy(float))
        upper = np.where(df[event_col].to_numpy() > 0.5, np.inf, y)
        with pm.Model() as self.model_:
            self.x_ = pm.Data("x", xa)
            self.upper_ = pm.Data("upper", upper)
            self.y_ = pm.Data("y", y)
            mu = pmb.BART("mu", self.x_, y, m=self.trees)
            sigma = pm.HalfNormal("sigma", 1.0)
            pm.Censored("log_t", pm.Normal.dist(mu, sigma), lower=None, upper=self.upper_, observed=self.y_,
                        shape=mu.shape)
            self.idata_ = pm.sample(draws=self.draws, tune=self.tune, chains=self.chains, cores=1,
                                    random_seed=self.seed, progressbar=False,
                                    compute_convergence_checks=False)
        return self

    def _mu(self, df, treatment, seed):
        import pymc as pm

        xa = self._design(df, treatment)
        n = len(df)
        with self.model_:
            pm.set_data({"x": xa, "upper": np.full(n, np.inf), "y": np.zeros(n)})
            pp = pm.sample_posterior_predictive(self.idata_, var_names=["mu"], random_seed=seed,
                                                progressbar=False)
        return pp.posterior_predictive["mu"].to_numpy()  # (chain, draw, n)

    def effect_posterior(self, df, horizon, seed=0):
        import arviz as az

        sigma = self.idata_.posterior["sigma"].to_numpy()[..., None]
        log_h = np.log(float(horizon))

        def rmst(mu):
            return (np.exp(mu + sigma**2 / 2) * ndtr((log_h - mu - sigma**2) / sigma)
                    + float(horizon) * (1 - ndtr((log_h - mu) / sigma)))

        tau = rmst(self._mu(df, 1, seed)) - rmst(self._mu(df, 0, seed))
        return az.from_dict(posterior={"tau": tau})
