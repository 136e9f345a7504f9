"""The conformance suite: YAML in, Istio's verdict out, compared with Mizzen's.

Validation cases live in ``validation/<table>.yaml``: documents separated by ``---``, each preceded by
header comments::

    # case: a wildcard host on a mesh-bound VirtualService
    # istio: invalid            (valid | warning | invalid: Istio's webhook verdict)
    # mizzen: valid             (only where Mizzen deliberately differs, with the reason:)
    # why: docs/istio-differences.md#some-anchor

Analyzer cases live in ``analyze/<analyzer>/<case>.yaml``, one file per case, with headers::

    # case: a Gateway whose selector matches no pod
    # analyzer: gateway.IngressGatewayPortAnalyzer
    # expect: IST0101 Gateway default/httpbin-gateway      (one line per message; none: no message)
    # mesh-config: <file next to the case>                  (optional, as istioctl --meshConfigFile)
    # mizzen-expect: ... / why: ...                         (only for deliberate differences)

The verdicts are written from Istio's rules (its validation code, analyzer code and tests), in our own
words and YAML; a case agrees when Mizzen's verdict equals Istio's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mizzen.config import load_text, validate
from mizzen.config.analyze import analyze
from mizzen.config.analyze.meshconfig import load_mesh_config

ROOT = Path(__file__).parent
# Mizzen's own notes, not Istio verdicts: "not applied yet", istioctl-validate's port naming advice, and
# what Istio itself leaves unenforced (a jwksUri no mesh service serves, DestinationRule TLS it drops).
MIZZEN_ONLY = frozenset({"MZ2013", "MZ2802", "MZ2783", "MZ2784", "MZ2805"})


@dataclass(frozen=True)
class Case:
    """One conformance case: where it is, what Istio says and what Mizzen is expected to say."""

    area: str
    name: str
    file: Path
    text: str
    istio: frozenset[str] | str
    mizzen: frozenset[str] | str
    why: str = ""
    analyzer: str = ""
    mesh_config: str = ""

    @property
    def agrees(self) -> bool:
        """Whether Mizzen is meant to give Istio's verdict (no documented difference)."""
        return self.istio == self.mizzen


@dataclass
class _Header:
    values: dict[str, list[str]] = field(default_factory=dict)

    def add(self, line: str) -> None:
        key, _, value = line.removeprefix("#").strip().partition(":")
        self.values.setdefault(key.strip(), []).append(value.strip())

    def one(self, key: str, default: str = "") -> str:
        return self.values.get(key, [default])[0]


def _split(text: str) -> list[tuple[_Header, str]]:
    out: list[tuple[_Header, str]] = []
    for chunk in text.split("\n---\n"):
        header, body = _Header(), []
        for line in chunk.splitlines():
            if line.startswith("# ") and ":" in line and not body:
                header.add(line)
            else:
                body.append(line)
        if header.values:
            out.append((header, "\n".join(body) + "\n"))
    return out


def validation_cases() -> list[Case]:
    """Every validation case, file by file."""
    cases: list[Case] = []
    for path in sorted((ROOT / "validation").glob("*.yaml")):
        for header, body in _split(path.read_text()):
            istio = header.one("istio")
            cases.append(
                Case(path.stem, header.one("case"), path, body, istio, header.one("mizzen", istio), header.one("why"))
            )
    return cases


def analyzer_cases() -> list[Case]:
    """Every analyzer case, one per file."""
    cases: list[Case] = []
    for path in sorted((ROOT / "analyze").glob("*/*.yaml")):
        if path.name.endswith(".mesh.yaml"):
            continue  # a mesh config file a case refers to
        text = path.read_text()
        header = _split(text)[0][0]
        expected = frozenset(e for e in header.values.get("expect", []) if e != "none")
        mizzen = header.values.get("mizzen-expect")
        cases.append(
            Case(
                path.parent.name,
                header.one("case"),
                path,
                text,
                expected,
                frozenset(e for e in mizzen if e != "none") if mizzen is not None else expected,
                header.one("why"),
                header.one("analyzer"),
                header.one("mesh-config"),
            )
        )
    return cases


def validation_verdict(case: Case) -> str:
    """Mizzen's verdict on a validation case: ``invalid``, ``warning`` or ``valid``."""
    loaded = load_text(case.text, str(case.file))
    found = [*loaded.report, *validate(loaded.resources)]
    found = [v for v in found if v.code not in MIZZEN_ONLY]
    if any(v.level == "error" for v in found):
        return "invalid"
    return "warning" if found else "valid"


def analyzer_verdict(case: Case) -> frozenset[str]:
    """The messages Mizzen reports for an analyzer case, as ``CODE Kind namespace/name``."""
    loaded = load_text(case.text, str(case.file))
    mesh = load_mesh_config((case.file.parent / case.mesh_config).read_text()) if case.mesh_config else None
    messages = analyze(
        loaded.resources,
        skipped=loaded.skipped,
        all_namespaces=True,
        analyzers=(case.analyzer,),
        mesh_config=mesh,
        files_only=True,
    )
    return frozenset(f"{m.code} {m.resource}" for m in messages)


def measure(cases: list[Case], verdict: Callable[[Case], frozenset[str] | str]) -> dict[str, tuple[int, int]]:
    """Per area: (cases where Mizzen's actual verdict is Istio's, all cases)."""
    out: dict[str, tuple[int, int]] = {}
    for c in cases:
        agree, total = out.get(c.area, (0, 0))
        out[c.area] = (agree + int(verdict(c) == c.istio), total + 1)
    return out
