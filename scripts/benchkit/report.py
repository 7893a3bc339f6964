"""Figures, their same-run baselines and the targets they are held to."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Check:
    name: str
    figure: str  # the measured value, with its unit
    baseline: str  # the ceiling it is compared with, measured in the same run
    ratio: float
    limit: float
    at_most: bool  # True: ratio <= limit passes; False: ratio >= limit passes

    @property
    def passed(self) -> bool:
        return self.ratio <= self.limit if self.at_most else self.ratio >= self.limit

    def line(self) -> str:
        sign = "<=" if self.at_most else ">="
        verdict = "ok" if self.passed else "MISSED"
        return (
            f"  {verdict:<6} {self.name}: {self.figure} against {self.baseline} "
            f"= {self.ratio:.2f}x (target {sign} {self.limit:g}x)"
        )


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    def add(self, check: Check) -> None:
        self.checks.append(check)
        print(check.line(), flush=True)

    def section(self, title: str) -> None:
        print(f"\n== {title}", flush=True)

    def note(self, text: str) -> None:
        print(f"  {text}", flush=True)

    def summary(self) -> int:
        missed = [c for c in self.checks if not c.passed]
        print(f"\n{len(self.checks) - len(missed)} of {len(self.checks)} targets met", flush=True)
        for check in missed:
            print(f"  missed: {check.name}", file=sys.stderr)
        return 1 if missed else 0
