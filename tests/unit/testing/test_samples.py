"""Finding Istio's sample files: the environment, beside the checkout, beside a worktree's main checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

from mizzen.testing import samples


def _samples_at(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "bookinfo.yaml").write_text("kind: List\n")
    return folder


def test_the_environment_variable_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """$MIZZEN_ISTIO_SAMPLES is looked at first and used when it holds bookinfo.yaml."""
    found = _samples_at(tmp_path / "mine")
    monkeypatch.setenv(samples.ENV_SAMPLES, str(found))
    assert samples.candidates()[0] == found
    assert samples.istio_samples_dir() == found


def test_a_plain_clone_looks_beside_itself_only(tmp_path: Path) -> None:
    """A clone with a .git folder looks in ../shared/istio-samples and nowhere else (no machine paths)."""
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    assert samples.checkouts(tmp_path / "repo") == [tmp_path / "repo"]


def test_a_worktree_also_looks_beside_its_main_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A git worktree (".git" is a file) also finds the samples beside the main checkout it belongs to."""
    monkeypatch.delenv(samples.ENV_SAMPLES, raising=False)
    gitdir = tmp_path / "main" / ".git" / "worktrees" / "wt"
    gitdir.mkdir(parents=True)
    (gitdir / "commondir").write_text("../..\n")
    worktree = tmp_path / "trees" / "wt"
    worktree.mkdir(parents=True)
    (worktree / ".git").write_text(f"gitdir: {gitdir}\n")
    assert samples.candidates(worktree) == [
        tmp_path / "trees" / "shared" / "istio-samples",
        tmp_path / "shared" / "istio-samples",
    ]


def test_the_missing_reason_names_every_place_looked_at(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The skip reason says what is missing, where it looked and which variable to set."""
    monkeypatch.setenv(samples.ENV_SAMPLES, str(tmp_path / "nowhere"))
    reason = samples.missing_reason()
    assert reason.startswith("Istio's Bookinfo samples not found")
    assert str(tmp_path / "nowhere") in reason and samples.ENV_SAMPLES in reason


@pytest.mark.parametrize(
    ("value", "required"), [("true", True), ("TRUE", True), ("1", True), ("", False), ("false", False)]
)
def test_ci_makes_samples_required(value: str, required: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """CI=true (as CI services set it) turns missing samples into an error."""
    monkeypatch.setenv("CI", value)
    assert samples.required() is required
