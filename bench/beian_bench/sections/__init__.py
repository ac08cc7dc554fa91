"""The sections of a run, one module each. Each measures with a function of (settings, results, logs, tenant,
postmaster) that adds its figures to `results` (coldstart needs no data set: (settings, results, logs))."""
