"""Small pure helpers shared by the builders: the output type, durations and percentages as Envoy wants them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeVar

from mizzen.config.models.common import Percent
from mizzen.config.semantics import durations

JSONDict = dict[str, object]
"""An Envoy v3 proto-JSON object being built: str, number, bool, list or nested object values.

Builders write these and never read them back: every decision is made on typed inputs first. Nor does
anything change them once returned: output objects may be shared between resources and proxies (e.g. the
stats loggers, built once per distinct input). Code that must change one builds a new dict; code that
hands one to ``json_format`` (which moves nested ``"@type"`` keys in place) hands it a copy.
"""


_J = TypeVar("_J")


def json_copy(value: _J) -> _J:
    """A deep copy of JSON-shaped output (dicts, lists, tuples, scalars): what ``copy.deepcopy`` gives for it,
    ~5x faster (no memo; output has no cycles). Builders copy where later code changes one copy in place."""
    if isinstance(value, dict):
        return {k: json_copy(v) for k, v in value.items()}  # type: ignore[return-value]
    if isinstance(value, list):
        return [json_copy(v) for v in value]  # type: ignore[return-value]
    if isinstance(value, tuple):
        return tuple(json_copy(v) for v in value)  # type: ignore[return-value]
    return value


def proto_duration(value: str | None) -> str | None:
    """An Istio duration (already validated by the model) as a protobuf JSON duration, ``None`` if unset."""
    return durations.protobuf_json(value) if value else None


@dataclass(frozen=True)
class Fraction:
    """An Envoy ``FractionalPercent``: ``numerator`` over a hundred or a million."""

    numerator: int
    denominator: Literal["HUNDRED", "MILLION"] = "HUNDRED"

    def json(self) -> JSONDict:
        """Envoy's proto-JSON form."""
        return {"numerator": self.numerator, "denominator": self.denominator}


ALL = Fraction(100)


def fractional_percent(value: float) -> Fraction:
    """A percentage 0..100 (double) over a million."""
    return Fraction(max(0, min(1_000_000, round(value * 10_000))), "MILLION")


def percent(percentage: Percent | None, legacy: int | None = None) -> Fraction:
    """Istio's ``percentage{value}`` (over a million) or a deprecated int ``percent``; unset = 0%."""
    if percentage is not None:
        return fractional_percent(percentage.value)
    return Fraction(max(0, min(100, legacy or 0)))
