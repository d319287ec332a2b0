"""Health: the model in health.yaml and the scores, snapshots and explanations built from it."""
