"""Bookinfo, Istio's sample application, re-implemented in Python for Mizzen.

Four services, each a small stdlib HTTP server run as ``python -m mizzen.samples.bookinfo.<svc>``:

- :mod:`.productpage` — the web page; calls details and reviews (and ratings for its API route).
- :mod:`.details` — book details.
- :mod:`.reviews` — book reviews; v1 without ratings, v2 black stars, v3 red stars.
- :mod:`.ratings` — star ratings.

They reproduce the original's paths, JSON shapes, page content, header propagation and client
timeouts, because Istio's traffic-management tasks observe exactly those. Services reach each other by
name (``http://reviews:9080/...``) through ``HTTP_PROXY``, which ``mizzen run`` points at the sidecar.
The shipped YAML lives in ``platform/`` and ``networking/``; see :mod:`.paths`.
"""
