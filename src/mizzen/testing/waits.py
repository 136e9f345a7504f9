"""Waiting on what a real control plane reports, instead of sleeping for a guessed time."""

from __future__ import annotations

import time
from datetime import datetime
from email.utils import parsedate_to_datetime

import httpx


def until_created_in_the_past(http: httpx.Client, path: str, timeout: float = 10.0) -> None:
    """Return once the control plane's clock (its ``Date`` header) is past the second ``path`` was created in.

    Creation timestamps have one-second resolution, as in Kubernetes, so objects created in the same
    second tie (and Istio then orders them by name); a test about age creates the next object after this.
    """
    created = datetime.fromisoformat(http.get(path).raise_for_status().json()["metadata"]["creationTimestamp"])
    deadline = time.monotonic() + timeout
    while parsedate_to_datetime(http.get("/healthz").headers["Date"]) <= created:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the control plane's clock did not pass {created.isoformat()} in {timeout}s")
        time.sleep(0.05)
