"""Where Istio's own Bookinfo sample YAML lives for tests (they must apply it unchanged).

Looked up in ``$MIZZEN_ISTIO_SAMPLES``, then in ``shared/istio-samples`` beside the checkout (for a git
worktree, also beside its main checkout): the layout of developers' machines and CI. The files are
Istio's, not ours, so a fresh clone may not have them: tests that need them carry the ``istio_samples``
marker and skip with :func:`missing_reason`; with ``CI=true`` missing samples fail the run instead
(``tests/conftest.py`` does both), so CI can never pass without the Istio-compatibility tests.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_SAMPLES = "MIZZEN_ISTIO_SAMPLES"
_MARKER_FILE = "bookinfo.yaml"


_ROOT = Path(__file__).resolve().parents[3]  # the checkout (for an installed package: meaningless, unused)


def checkouts(root: Path = _ROOT) -> list[Path]:
    """The checkout at ``root`` and, when it is a git worktree, the main checkout too."""
    found = [root]
    dotgit = root / ".git"
    if dotgit.is_file():  # a worktree's ".git" is a file: "gitdir: <main>/.git/worktrees/<name>"
        text = dotgit.read_text(encoding="utf-8").strip()
        if text.startswith("gitdir:"):
            gitdir = (root / text.removeprefix("gitdir:").strip()).resolve()
            common = gitdir / "commondir"  # relative path from the worktree's gitdir to <main>/.git
            if common.is_file():
                found.append((gitdir / common.read_text(encoding="utf-8").strip()).resolve().parent)
    return found


def candidates(root: Path = _ROOT) -> list[Path]:
    """Every folder looked at, in order: ``$MIZZEN_ISTIO_SAMPLES``, then ``shared/istio-samples`` by each checkout."""
    env = os.environ.get(ENV_SAMPLES, "")
    return [*([Path(env)] if env else []), *(c.parent / "shared" / "istio-samples" for c in checkouts(root))]


def istio_samples_dir() -> Path | None:
    """The folder holding Istio's Bookinfo samples (``bookinfo.yaml``, ``virtual-service-*.yaml``, ...), or None."""
    return next((c for c in candidates() if (c / _MARKER_FILE).is_file()), None)


def istio_sample_files() -> list[Path]:
    """Istio's sample files sorted by name (empty when the folder is missing)."""
    found = istio_samples_dir()
    return sorted(found.glob("*.yaml")) if found is not None else []


def missing_reason() -> str:
    """Why sample tests cannot run here, naming every place looked at."""
    looked = ", ".join(str(c) for c in candidates())
    return f"Istio's Bookinfo samples not found (looked in {looked}; set {ENV_SAMPLES} to their folder)"


def required() -> bool:
    """True in CI (``CI=true``), where missing samples are an error rather than a skip."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}
