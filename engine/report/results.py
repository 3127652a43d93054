"""Benchmark results as flat rows: one per configuration and case, the unit every chart,
export and the app's history share.

``hearth-cli bench`` prints one result per configuration (a nested dict, see
``engine.generation.benchmark.run_engine_bench``); ``rows_of`` flattens it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

CASES = ("short", "long", "chat")


@dataclass(frozen=True)
class BenchRow:
    """One case of one configuration: medians over the rounds; memory is the process's peak."""

    model: str
    precision: str
    provider: str
    threads: int | None  # None: the engine's default (all cores)
    case: str  # "short", "long" or "chat"
    prompt_tokens: int
    cached_tokens: int
    ttft_ms: float | None
    prefill_tps: float | None
    decode_tps: float | None
    peak_rss_mb: float | None
    rounds: int = 1
    new_tokens: int = 128

    @property
    def config(self) -> tuple[str, str, str, int | None]:
        return self.model, self.precision, self.provider, self.threads

    def config_label(self) -> str:
        threads = "all cores" if self.threads is None else f"{self.threads} thread{'s' * (self.threads != 1)}"
        return f"{self.precision} · {self.provider} · {threads}"


FIELDS = tuple(f.name for f in fields(BenchRow))


def rows_of(result: dict[str, Any], threads: int | None = None, rounds: int = 1, new_tokens: int = 128) -> list[BenchRow]:
    """The rows of one ``run_engine_bench`` result (cases it lacks are left out)."""
    threads = result.get("threads", threads)
    rows = []
    for case in CASES:
        figures = result.get(case)
        if not figures:
            continue
        rows.append(BenchRow(
            model=result["model"], precision=result.get("precision", ""), provider=result.get("provider", ""),
            threads=threads, case=case, prompt_tokens=int(figures.get("prompt_tokens", 0)),
            cached_tokens=int(figures.get("cached_tokens", 0)), ttft_ms=figures.get("ttft_ms"),
            prefill_tps=figures.get("prefill_tps"), decode_tps=figures.get("decode_tps"),
            peak_rss_mb=result.get("peak_rss_mb"), rounds=result.get("rounds", rounds),
            new_tokens=result.get("new_tokens", new_tokens)))
    return rows


def configs(rows: Iterable[BenchRow]) -> list[tuple[str, str, str, int | None]]:
    """The configurations in ``rows``, in the order they first appear."""
    return list(dict.fromkeys(r.config for r in rows))


def to_csv(rows: Sequence[BenchRow]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in asdict(row).items()})
    return out.getvalue()


def to_json(rows: Sequence[BenchRow], **about: Any) -> str:
    """``{"about": {...}, "results": [row, ...]}``; ``about`` says when and where it ran."""
    return json.dumps({"about": about, "results": [asdict(r) for r in rows]}, indent=2) + "\n"


def from_dict(data: dict[str, Any]) -> BenchRow:
    return BenchRow(**{k: data[k] for k in FIELDS if k in data})
