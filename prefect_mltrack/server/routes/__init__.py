"""Routers of the tracking server, one module per part of MLflow's API."""
