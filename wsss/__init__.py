"""The WSSS pipeline: data, models, stages and their cache (no Ray, MLflow or Optuna here)."""

import os

# OpenMP threads that finish a parallel region sleep instead of spinning, so a busy
# neighbour (a DataLoader or CRF process, another trial) is not slowed by idle spinning
# (docs/performance.md). Read once when OpenMP loads: before torch is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
