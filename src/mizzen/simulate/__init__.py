"""Mizzen simulate: ``mizzen test``, routing assertions checked offline against the translator's output.

- :mod:`walker` / :mod:`envoy`: walk a request through a proxy's generated listeners, routes and clusters
  with Envoy's matching rules (``Walker``, ``simulate``);
- :mod:`spec`: the RouteTest file format (``mizzen.io/v1alpha1``);
- :mod:`mesh`: the tested mesh (config + the workloads tests describe) and the senders' proxies;
- :mod:`runner` / :mod:`expect` / :mod:`provenance`: run cases, check expectations, explain failures;
- :mod:`report`: text, JSON and JUnit XML reports; :mod:`inputs`: reading files or the live mesh.
"""

from mizzen.simulate.walker import Request, Result, Walker, simulate, walk

__all__ = ["Request", "Result", "Walker", "simulate", "walk"]
