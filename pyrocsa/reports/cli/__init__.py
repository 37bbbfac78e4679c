"""The ``pyrocsa`` command line.

Commands (``pyrocsa COMMAND --help`` for each), one module each:

* ``demo``       -- the README's main job: CSA-INFO on the shipped ACTG trial (RMST and survival differences
                    inside follow-up beside the Kaplan-Meier, HR beside the trial's Cox HR)
                    and on actg-Synthetic (PEHE / ATE beside the truth); writes plots
                    (:mod:`~pyrocsa.reports.cli.demo`).
* ``fit``        -- CSV/Parquet in, column names as options, model directory out (``--nproc K``: K
                    data-parallel processes; or launch with ``torchrun ... -m pyrocsa fit``)
                    (:mod:`~pyrocsa.reports.cli.fit`).
* ``predict``    -- model + CSV -> CSV of per-subject ITE mean and HDI, plus a netCDF InferenceData
                    (:mod:`~pyrocsa.reports.cli.predict`).
* ``simulate``   -- the paper's Gompertz-Cox simulator to CSV (with ground-truth columns)
                    (:mod:`~pyrocsa.reports.cli.simulate`).
* ``synthesize`` -- STEAM-style synthetic cohort from a CSV (:mod:`~pyrocsa.reports.cli.synthesize`).
* ``evaluate``   -- factual metrics (C-index per arm, D-calibration, HR) of a model on a CSV, and
                    causal metrics (PEHE, ATE error, coverage) when ground-truth columns are given
                    (:mod:`~pyrocsa.reports.cli.evaluate`).

Each command module holds ``add_parser(sub)`` (its subparser and options) and ``run(args)`` (the command,
returning the exit code); :mod:`~pyrocsa.reports.cli.app` assembles them into :func:`build_parser` and runs
them in :func:`main`. Shared pieces: option types and the column options (:mod:`~pyrocsa.reports.cli.args`),
input and output checks (:mod:`~pyrocsa.reports.cli.files`), building and loading models
(:mod:`~pyrocsa.reports.cli.models`) and the error contract (:mod:`~pyrocsa.reports.cli.errors`).

Every path and option is checked before any training. A failure ends with one line on stderr naming the
file, column or option and what is wrong, and exit code 2 (1 for an internal error); never a traceback
unless ``--debug`` is given (``pyrocsa --debug COMMAND ...`` or ``pyrocsa COMMAND ... --debug``).
"""

from .app import COMMANDS, build_parser, main
from .demo import DEMO_TIMES
from .errors import EXIT_BAD_INPUT, EXIT_INTERNAL, CLIError

__all__ = ["main", "build_parser", "CLIError", "COMMANDS", "DEMO_TIMES", "EXIT_BAD_INPUT", "EXIT_INTERNAL"]
