"""Does the default model's plain greedy reply quote a 1,000-token document? Six ways of asking.

    .venv/bin/python bench/quote_probe.py [--model DIR]

Prompt lookup can only speed up a reply that copies its prompt, and the speculative
bench keeps its document workload only where plain greedy output really does. For each
phrasing this prints the share of the reply's 4-grams found in the prompt (what
bench/speculative.py records as "copies prompt") and the reply's start.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(1, str(ROOT))

from speculative import DEFAULT_MODEL, NEW_TOKENS, copied_share  # noqa: E402

from engine.core.events import LoadOptions, SamplingParams  # noqa: E402
from engine.generation.generate import stream_generate  # noqa: E402
from engine.runtime.model import load_model  # noqa: E402

ASKS = {
    "quote-then-summarize": "{doc}\n\nQuote the first three sentences of the text above exactly, then summarize it.",
    "repeat-before": "Repeat the following text word for word.\n\n{doc}",
    "repeat-after": "{doc}\n\nRepeat the text above word for word.",
    "copy-paragraph": "Here is a document:\n\n{doc}\n\nCopy the first paragraph of the document exactly as written.",
    "answer-in-quotes": "{doc}\n\nWhat does the document say? Answer using sentences quoted from it.",
    "proofread": "Correct any spelling mistakes in the following text and return the full corrected text.\n\n{doc}",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    args = parser.parse_args()
    model = load_model(args.model, LoadOptions(context_length=2048, threads=2))
    codec = model.codec
    text = (ROOT / "tests" / "data" / "ppl_text.txt").read_text(encoding="utf-8")
    doc = codec.decode(codec.encode(text)[:1000])
    for name, ask in ASKS.items():
        ids = codec.encode_chat([{"role": "user", "content": ask.format(doc=doc)}])
        model.runner.reset()
        events = stream_generate(model, ids, SamplingParams(temperature=0.0, max_new_tokens=NEW_TOKENS))
        out = [e.token_id for e in events if e.token_id is not None]
        print(f"{name}: copies prompt {copied_share(ids, out):.2f}; {codec.decode(out)[:100]!r}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
