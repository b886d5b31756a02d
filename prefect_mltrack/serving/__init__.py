"""Scoring: MLflow's request and response formats, and the servers that speak them.

=================  ==========================================================================
``payload``        MLflow's input forms parsed into model input; predictions to JSON
``scoring``        the request path both servers share: content type, body limit, parse,
                   predict, errors
``fast_rows``      numeric rows straight to a compiled tree-ensemble predictor (``fast_predict``)
``openapi``        ``/invocations`` described from the model's signature
``app``            the single-model server (``mltrack models serve``)
``multi``          the multi-model server (``mltrack serve``); ``hosting`` (routes and swaps),
                   ``admin`` (the token-protected admin API), ``metrics`` (Prometheus text)
``protocol``       uvicorn's HTTP protocol with TCP_NODELAY on every connection
=================  ==========================================================================
"""
