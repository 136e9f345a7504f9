"""Print Mizzen's measured agreement with Istio on the conformance suite, per area, then a summary line.

Run as ``python3 tools/dev.py conformance`` (or ``python -m tests.conformance.summary``).
"""

from __future__ import annotations

from .cases import analyzer_cases, analyzer_verdict, measure, validation_cases, validation_verdict


def _print(title: str, table: dict[str, tuple[int, int]]) -> tuple[int, int]:
    print(title)
    agree_all = total_all = 0
    width = max(map(len, table), default=0)
    for area, (agree, total) in sorted(table.items()):
        print(f"  {area:<{width}} {agree:>4}/{total:<4} {100 * agree / total:6.1f}%")
        agree_all, total_all = agree_all + agree, total_all + total
    return agree_all, total_all


def main() -> None:
    """Measure and print."""
    va, vt = _print("validation (Istio's webhook verdict)", measure(validation_cases(), validation_verdict))
    aa, at = _print("analyzers (istioctl analyze messages)", measure(analyzer_cases(), analyzer_verdict))
    print(
        f"conformance: validation {va}/{vt} ({100 * va / max(vt, 1):.1f}%), "
        f"analyzers {aa}/{at} ({100 * aa / max(at, 1):.1f}%)"
    )


if __name__ == "__main__":
    main()
