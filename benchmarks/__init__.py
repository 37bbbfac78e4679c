"""pyrocsa's benchmarks: each module backs a claim in the README or the docs and is run from the repository
root as ``python -m benchmarks.NAME --help``. ``benchmarks/README.md`` lists them with their commands."""
