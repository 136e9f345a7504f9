#!/usr/bin/env python3
"""Print size figures of the package: function and module lengths, and untyped access in ``translate``.

    python3 tools/codestats.py [src/mizzen]

Function length counts the lines of a ``def`` from its first line to its last (docstring included).
The ``Any`` count is the number of ``Any`` names in ``translate/`` (annotations and casts alike), and
the ``as_*`` count the calls of the loose coercion helpers (``as_map``, ``as_list``, ``as_int``...).
Standard library only, so it runs before set-up.
"""

from __future__ import annotations

import ast
import statistics
import sys
from pathlib import Path


def _functions(tree: ast.AST) -> list[int]:
    return [
        (node.end_lineno or node.lineno) - node.lineno + 1
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def _percentile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str]) -> int:
    """Print function and module length figures for a package (default src/mizzen) and translate's Any count."""
    root = Path(argv[0] if argv else "src/mizzen")
    lengths: list[int] = []
    modules: list[tuple[int, str]] = []
    any_count = coercions = 0
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        lengths += _functions(tree)
        modules.append((len(text.splitlines()), str(path.relative_to(root))))
        if path.relative_to(root).parts[0] == "translate":
            for node in ast.walk(tree):
                if isinstance(node, ast.Name) and node.id == "Any":
                    any_count += 1
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id.startswith("as_"):
                    coercions += 1
    sizes = [n for n, _ in modules]
    print(
        f"functions: {len(lengths)}  median {statistics.median(lengths):.0f}  "
        f"p90 {_percentile(lengths, 0.9)}  max {max(lengths)} lines"
    )
    print(
        f"modules: {len(modules)}  median {statistics.median(sizes):.0f}  "
        f"p90 {_percentile(sizes, 0.9)}  max {max(sizes)} lines; over 400: "
        + (", ".join(f"{name} ({n})" for n, name in sorted(modules, reverse=True) if n > 400) or "none")
    )
    print(f"translate/: {any_count} uses of Any, {coercions} as_* coercion calls")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
