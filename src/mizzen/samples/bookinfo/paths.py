"""Where the Bookinfo YAML shipped with Mizzen lives, for ``mizzen apply -f`` and for tests.

- ``platform/bookinfo.yaml``: the Services and ServiceAccounts.
- ``networking/*.yaml``: Gateway, DestinationRules and VirtualServices with the same file names and
  meaning as Istio's ``samples/bookinfo/networking`` (written for Mizzen).
- ``gateway-api/*.yaml``: the same walkthrough with the Kubernetes Gateway API (as Istio's
  ``samples/bookinfo/gateway-api``, plus the per-version Services of ``bookinfo-versions.yaml``).

Mizzen is installed as plain files (never zipped), so these are ordinary paths.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def package_dir() -> Path:
    """The directory of the ``mizzen.samples.bookinfo`` package."""
    return Path(str(resources.files(__package__)))


def platform_file() -> Path:
    """``platform/bookinfo.yaml``: the four Services and their ServiceAccounts."""
    return package_dir() / "platform" / "bookinfo.yaml"


def networking_dir() -> Path:
    """The ``networking/`` directory holding the traffic-management YAML."""
    return package_dir() / "networking"


def gateway_api_dir() -> Path:
    """The ``gateway-api/`` directory: Bookinfo's routing with the Gateway API."""
    return package_dir() / "gateway-api"


def networking_files() -> list[str]:
    """The file names in ``networking/``, sorted."""
    return sorted(p.name for p in networking_dir().glob("*.yaml"))


def networking_file(name: str) -> Path:
    """One networking file by name, with or without ``.yaml`` (``"virtual-service-all-v1"``).

    Raises ``FileNotFoundError`` naming the known files when there is no such file.
    """
    file_name = name if name.endswith(".yaml") else f"{name}.yaml"
    path = networking_dir() / file_name
    if not path.is_file():
        known = ", ".join(networking_files())
        raise FileNotFoundError(f"no Bookinfo networking file {file_name!r}; known files: {known}")
    return path
