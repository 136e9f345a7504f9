"""Reports of a test run: text for people, JSON for tools, JUnit XML for CI systems."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from mizzen.simulate.runner import CaseResult, TestRun

FORMATS = ("text", "json", "junit")


def render(run: TestRun, fmt: str, *, verbose: bool = False) -> str:
    """``run`` in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "json":
        return json.dumps(to_json(run), indent=2) + "\n"
    if fmt == "junit":
        return junit(run)
    return text(run, verbose=verbose)


def text(run: TestRun, *, verbose: bool = False) -> str:
    """``PASS``/``FAIL`` per case; a failure lists what did not hold, what happened and why."""
    lines = []
    for c in run.cases:
        lines.append(f"{'PASS' if c.passed else 'FAIL'}  {c.suite}: {c.name}" + ("" if c.passed else f"  ({c.where})"))
        if not c.passed or verbose:
            lines += [f"      {f}" for f in c.failures]
            lines.append(f"      actual: {c.actual}")
            lines += [f"        {e}" for e in c.explanation]
    lines.append(f"{len(run.cases) - run.failed} passed, {run.failed} failed ({run.seconds:.2f}s)")
    return "\n".join(lines) + "\n"


def to_json(run: TestRun) -> dict[str, object]:
    """A JSON document with one entry per case."""
    return {
        "passed": run.passed,
        "total": len(run.cases),
        "failed": run.failed,
        "seconds": round(run.seconds, 4),
        "cases": [
            {
                "suite": c.suite,
                "name": c.name,
                "file": c.file,
                "line": c.line,
                "passed": c.passed,
                "failures": list(c.failures),
                "actual": c.actual,
                "explanation": list(c.explanation),
            }
            for c in run.cases
        ],
    }


def junit(run: TestRun) -> str:
    """JUnit XML: one ``testsuite`` per RouteTest, one ``testcase`` per case, ``failure`` with the reasons."""
    root = ET.Element("testsuites", name="mizzen test", tests=str(len(run.cases)), failures=str(run.failed))
    root.set("time", f"{run.seconds:.3f}")
    for suite, cases in _by_suite(run.cases):
        failed = sum(1 for c in cases if not c.passed)
        el = ET.SubElement(root, "testsuite", name=suite, tests=str(len(cases)), failures=str(failed), errors="0")
        el.set("time", f"{sum(c.seconds for c in cases):.3f}")
        for c in cases:
            tc = ET.SubElement(el, "testcase", name=c.name, classname=suite, file=c.file, time=f"{c.seconds:.4f}")
            if c.line is not None:
                tc.set("line", str(c.line))
            if not c.passed:
                failure = ET.SubElement(tc, "failure", message="; ".join(c.failures), type="RouteTestFailure")
                failure.text = "\n".join([*c.failures, f"actual: {c.actual}", *c.explanation])
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _by_suite(cases: Sequence[CaseResult]) -> list[tuple[str, list[CaseResult]]]:
    out: dict[str, list[CaseResult]] = {}
    for c in cases:
        out.setdefault(c.suite, []).append(c)
    return list(out.items())
