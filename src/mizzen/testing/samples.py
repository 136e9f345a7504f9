"""Where Istio's own Bookinfo sample YAML lives for tests (they must apply it unchanged).

Looked up in ``$MIZZEN_ISTIO_SAMPLES``, then ``shared/istio-samples`` beside the checkout (the layout of
developers' machines and CI). Missing samples are an error, not a skip: the Istio-compatibility tests
must run.
"""

from __future__ import annotations

import os
from pathlib import Path

_REPO = Path(__file__).resolve().parents[3]


def istio_samples_dir() -> Path:
    """The folder holding Istio's Bookinfo samples (``bookinfo.yaml``, ``virtual-service-*.yaml``, ...)."""
    candidates = [
        os.environ.get("MIZZEN_ISTIO_SAMPLES", ""),
        str(_REPO.parent / "shared" / "istio-samples"),
        "/work/shared/istio-samples",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "bookinfo.yaml").is_file():
            return Path(candidate)
    raise FileNotFoundError(
        "Istio's samples not found: set MIZZEN_ISTIO_SAMPLES or put shared/istio-samples "
        f"beside the checkout (looked in {', '.join(c for c in candidates if c)})"
    )
