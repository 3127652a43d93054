"""Perplexity: the chunked figure against the token-by-token one, and the CLI's pinned lines."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from engine.core.events import LoadOptions
from engine.generation.perplexity import perplexity
from engine.runtime.model import load_model

TEXT = Path(__file__).resolve().parents[1] / "data" / "ppl_text.txt"


def test_chunked_perplexity_equals_token_by_token_on_a_float_graph(fp32_model_dir):
    # On the int4 default model the two differ by about 0.6 % (see engine/generation/perplexity.py).
    model = load_model(fp32_model_dir, LoadOptions(context_length=512, threads=2))
    text = TEXT.read_text(encoding="utf-8")
    fast = perplexity(model, text, max_tokens=384)
    exact = perplexity(model, text, max_tokens=384, token_by_token=True)
    assert fast.tokens == exact.tokens == 383
    assert abs(fast.perplexity - exact.perplexity) <= 0.005, (fast, exact)


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], input=stdin, capture_output=True,
                          text=True, timeout=300)


def test_eval_ppl_prints_its_pinned_line(default_model_dir):
    done = _cli("eval", "ppl", str(default_model_dir), "--text", str(TEXT), "--max-tokens", "200")
    assert done.returncode == 0, done.stderr
    assert re.match(r"^perplexity \d+\.\d{4} over 199 tokens \(SmolLM2-135M-Instruct, int4\+int8\)$",
                    done.stdout.splitlines()[0]), done.stdout


def test_generate_reads_stdin_and_prints_the_pinned_stats_line(default_model_dir):
    done = _cli("generate", "--model", str(default_model_dir), "--max-new-tokens", "8", stdin="Say hi.")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    stats = done.stderr.strip().splitlines()[-1]
    assert re.match(r"^\[finish=(stop|length), ttft=\d+ ms, prefill=\d+ tok/s, (decode=\d+\.\d tok/s, )?"
                    r"tokens=\d+, prompt=\d+ \(cached \d+\), context=\d+/\d+\]$", stats), stats
