"""What `run_all.sh` drives: the notebook series under papermill, and what it reports.

  runner     `python -m foodlib.run.runner`: the notebooks in order, stopping at the first failure
  footprint  each notebook's wall time, peak host and GPU memory, cache disk (timings.json)
  estimate   the series' time: the CPU estimate printed before a full-scale CPU run, and the projection from
             finished short runs (`python -m foodlib.run.estimate RUN_DIR RUN_DIR`)
  report     REPORT.md assembled from a run's tables and figures
  record     `./run_all.sh --record <profile>`: a finished run copied into record/ (tracked)
  cli        usage errors of every entry point as one line and exit status 2
"""
