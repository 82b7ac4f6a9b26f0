"""The sampling section's names and defaults, apart from the samplers themselves.

``check``'s command line reads these to build its options; keeping them here lets it do
so without importing a sampler, SMC or calibration code (``check --samples 0`` runs
none of it). ``numerics.sampling.section`` uses the same names.
"""

from __future__ import annotations

DEFAULT_SAMPLER = "ode"
DEFAULT_SAMPLES = 2000
DEFAULT_STEPS = 100
# Path samplers whose Metropolis/SMC steps need the log-density too.
PATH_SAMPLERS = ("ode", "sde", "ancestral", "pc-langevin", "pc-mala", "pc-hmc", "path-smc")
TEMPERED = "smc"
SAMPLERS = (*PATH_SAMPLERS, TEMPERED)
