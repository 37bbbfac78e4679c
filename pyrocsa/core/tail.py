"""The package's one rule for a survival law beyond the end of follow-up.

No data speak about the hazard after ``t_end``, the largest training duration, yet an expected lifetime
(and a draw that lands past ``t_end``) needs a value there. Every model in pyrocsa continues a subject's
cumulative hazard past ``t_end`` with a Weibull piece that is continuous at ``t_end``,

    H(t) = H(t_end) (t / t_end)^k,        t > t_end,

whose shape ``k`` is the log-log slope of the subject's own cumulative hazard over the second half of
follow-up, ``k = log(H(t_end) / H(t_end / 2)) / log 2``, clipped to :data:`TAIL_SHAPE_RANGE` (``k = 1``, a
constant hazard, where ``H(t_end / 2) = 0``). A rising (e.g. Gompertz) or falling hazard so stays rising or
falling at the rate it had at the end of the data, instead of reverting to whatever the model family does
far out. The step-curve T-learners (:class:`pyrocsa.baselines.cox.SurvivalCurves`) and the flow time laws
(:class:`pyrocsa.csa.distributions.FlowTime`) both use it; within follow-up it changes nothing.
"""

from __future__ import annotations

import math

__all__ = ["TAIL_SHAPE_RANGE", "LOG_HALF"]

#: the range the end-of-follow-up Weibull shape k is clipped to
TAIL_SHAPE_RANGE = (0.5, 5.0)

#: log 2: the second half of follow-up is [t_end / 2, t_end], log t_end - LOG_HALF on the log scale
LOG_HALF = math.log(2.0)
