"""The WSSS pipeline: data, models, stages and their cache (no Ray, MLflow or Optuna here)."""
