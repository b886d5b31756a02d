"""The tracking server: MLflow's REST API, the artifact proxy and (soon) the web UI.

Start it with ``mltrack server`` (or ``mltrack ui`` on the embedded store); build the app in code
with :func:`prefect_mltrack.server.app.create_app`.
"""
