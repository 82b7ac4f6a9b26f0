"""Sampling: time grids, samplers, SMC, calibration and the sampling section (THEORY C3, C9, C13).

Above ``composition``: reverse-time samplers driven by score callables ``(x, t) ->
score`` (``samplers``, one time-grid module ``times``), SMC (``smc``), sample-vs-sample
metrics (``sample_metrics``), the calibrated two-sample test (``calibration``), and
``check``'s sampling section (``section``: composed run, oracle run, exact draws). A new
sampler goes in ``samplers`` (or ``smc``) with the shared signature
``(score, x, times, process, *, generator, callback)``.
"""
