"""Ray Tune trainables: decode the config, call ``wsss``, report to Tune, log to MLflow."""
