"""Recall@k of BM25, the embedder and their reciprocal-rank fusion on the retrieval question set.

    HEARTH_HOME=... python bench/embed_recall.py [--chunk-tokens 128] [--k 5] [--json bench/results/X.json]

The document (tests/data/gpl3.txt) is cut with Hearth's own chunker
(``engine.documents.retrieval.chunk_document``), counting tokens with the embedder's
tokenizer so no chunk is truncated by the encoder. A question is answered at k when one
of its top-k chunks overlaps its known answer passage (tests/data/retrieval_questions.json).
Needs the installed embedder (``engine.convert.embedder_model.install_embedder``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's engine, not another installed one

from tokenizers import Tokenizer  # noqa: E402

from engine.documents import extract  # noqa: E402
from engine.documents.fusion import ranking, reciprocal_rank_fusion  # noqa: E402
from engine.documents.retrieval import bm25_scores, chunk_document  # noqa: E402
from engine.runtime.embedder import Embedder, embedder_dir  # noqa: E402

QUESTIONS = ROOT / "tests" / "data" / "retrieval_questions.json"


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--chunk-tokens", type=int, default=128)
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--json")
    args = p.parse_args()

    spec = json.loads(QUESTIONS.read_text(encoding="utf-8"))
    doc = extract(QUESTIONS.parent / spec["document"])
    folder = embedder_dir()
    counter = Tokenizer.from_file(str(folder / "tokenizer.json"))
    counter.no_truncation()
    counter.no_padding()
    chunks = chunk_document(doc, lambda text: len(counter.encode(text).ids), args.chunk_tokens)
    embedder = Embedder(folder)
    # The text alone: the citation header (file name, lines) says nothing about the content.
    vectors = embedder.embed([chunk.text for chunk in chunks])

    hits = {"bm25": 0, "dense": 0, "hybrid": 0}
    misses: dict[str, list[int]] = {name: [] for name in hits}
    for q in spec["questions"]:
        start, end = _locate(doc.text, q["answer"])
        relevant = {i for i, c in enumerate(chunks) if c.start < end and start < c.end}
        by_bm25 = ranking(bm25_scores([c.text for c in chunks], q["question"]))
        by_dense = ranking((vectors @ embedder.embed([q["question"]])[0]).tolist())
        by_hybrid = ranking(reciprocal_rank_fusion([by_bm25, by_dense]))
        for name, order in (("bm25", by_bm25), ("dense", by_dense), ("hybrid", by_hybrid)):
            if relevant & set(order[: args.k]):
                hits[name] += 1
            else:
                misses[name].append(q["id"])

    n = len(spec["questions"])
    result = {
        "document": spec["document"],
        "questions": n,
        "chunks": len(chunks),
        "chunk_tokens": args.chunk_tokens,
        "k": args.k,
        "embedder": embedder.info.name,
        "recall": {name: round(hit / n, 3) for name, hit in hits.items()},
        "missed": misses,
    }
    print(f"{n} questions, {len(chunks)} chunks of <= ~{args.chunk_tokens} tokens, recall@{args.k}:")
    for name, hit in hits.items():
        print(f"  {name:7s} {hit:3d}/{n} = {hit / n:6.1%}   missed: {misses[name]}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


def _locate(text: str, answer: str) -> tuple[int, int]:
    """The answer passage's offsets in the extracted text (whitespace may differ from the file's)."""
    import re

    match = re.search(r"\s+".join(re.escape(word) for word in answer.split()), text)
    if match is None:
        raise SystemExit(f"answer passage not found in the document: {answer[:60]!r}")
    return match.start(), match.end()


if __name__ == "__main__":
    sys.exit(main())
