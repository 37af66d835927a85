"""What `run_all.sh` drives: the notebook series under papermill, and what it reports.

  runner     `python -m foodlib.run.runner`: the notebooks in order, stopping at the first failure
  footprint  each notebook's wall time, peak host and GPU memory, cache disk (timings.json)
  estimate   a rough CPU wall-time estimate printed before a full-scale run on a CPU
  report     REPORT.md assembled from a run's tables and figures
  record     `./run_all.sh --record <profile>`: a finished run copied into record/ (tracked)
  cli        usage errors of every entry point as one line and exit status 2
"""
