"""Scoring: MLflow's request and response formats, and the servers that speak them."""
