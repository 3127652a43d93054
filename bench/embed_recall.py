"""Recall@k of BM25, the embedder and their reciprocal-rank fusion on a retrieval question set.

    HEARTH_HOME=... python bench/embed_recall.py [--questions tests/data/retrieval_questions.json]
        [--chunk-tokens 128] [--rrf-k 60] [--dense-weight 1] [--dense-top all] [--k 5] [--json X.json]

The document named by the question file is cut with Hearth's own chunker
(``engine.documents.retrieval.chunk_document``), counting tokens with the embedder's
tokenizer so no chunk is truncated by the encoder. A question is answered at k when one
of its top-k chunks overlaps its known answer passage. Needs the installed embedder
(``engine.convert.embedder_model.install_embedder``).

Hybrid is ``engine.documents.fusion.hybrid_scores``, the app's own fusion. ``--dense-top all``
(the default) admits every chunk, which is plain RRF; a number admits only that many
chunks without a question word, as the app does. Each knob takes a comma-separated list:
the whole grid is run, each chunk size embedded once, one row per setting, and the pick
is the row with the best hybrid - BM25 margin, ties going to the fewest knobs changed from
the app's defaults, then to the values nearest them in the grid.

Two question sets: retrieval_questions.json (GPL v3) is the held-out TEST set;
retrieval_questions_dev.json (MPL 2.0 + Apache 2.0) is the one to tune on.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's engine, not another installed one

from tokenizers import Tokenizer  # noqa: E402

from engine.documents import extract  # noqa: E402
from engine.documents.dense import DENSE_CHUNK_TOKENS  # noqa: E402
from engine.documents.fusion import DENSE_TOP, DENSE_WEIGHT, RRF_K, hybrid_scores, ranking  # noqa: E402
from engine.documents.retrieval import bm25_scores, chunk_document  # noqa: E402
from engine.runtime.embedder import Embedder, embedder_dir  # noqa: E402

QUESTIONS = ROOT / "tests" / "data" / "retrieval_questions.json"
ALL = None  # --dense-top all: no chunk is left out
APP_DEFAULTS = {"chunk_tokens": DENSE_CHUNK_TOKENS, "rrf_k": float(RRF_K), "dense_weight": DENSE_WEIGHT,
                "dense_top": DENSE_TOP}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--questions", type=Path, default=QUESTIONS)
    p.add_argument("--chunk-tokens", type=_list(int), default=[128])
    p.add_argument("--rrf-k", type=_list(float), default=[60.0])
    p.add_argument("--dense-weight", type=_list(float), default=[1.0])
    p.add_argument("--dense-top", type=_list(lambda v: ALL if v == "all" else int(v)), default=[ALL],
                   help="chunks without a question word admitted by dense rank; 'all' = plain RRF")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--json")
    args = p.parse_args()

    spec = json.loads(args.questions.read_text(encoding="utf-8"))
    doc = extract(args.questions.parent / spec["document"])
    folder = embedder_dir()
    counter = Tokenizer.from_file(str(folder / "tokenizer.json"))
    counter.no_truncation()
    counter.no_padding()
    embedder = Embedder(folder)
    questions = spec["questions"]
    passages = [_locate(doc.text, q["answer"]) for q in questions]
    query_vectors = embedder.embed([q["question"] for q in questions])

    count = lambda text: len(counter.encode(text).ids)  # noqa: E731
    rows = [row for chunk_tokens in args.chunk_tokens
            for row in _grid(doc, count, chunk_tokens, embedder, questions, query_vectors, passages, args)]
    path = args.questions.resolve()
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    result = {"questions_file": str(shown), "document": spec["document"], "questions": len(questions),
              "k": args.k, "embedder": embedder.info.name}
    if len(rows) == 1:
        result.update(rows[0])
    else:
        result["app_defaults"] = APP_DEFAULTS
        result["pick_rule"] = ("best margin (hybrid - BM25 hits); ties: fewest knobs changed from app_defaults, "
                               "then fewest grid steps from them")
        result["pick"] = _pick(rows, vars(args))
        result["grid"] = [{key: value for key, value in row.items() if key != "missed"} for row in rows]
    for row in rows:
        hits = row["hits"]
        print(f"{row['setting']}  {row['chunks']} chunks  recall@{args.k}: bm25 {hits['bm25']}/{len(questions)}"
              f"  dense {hits['dense']}  hybrid {hits['hybrid']}  margin {row['margin_points']:+.1f}")
    if len(rows) == 1:
        for name, missed in rows[0]["missed"].items():
            print(f"  {name:7s} {rows[0]['recall'][name]:6.1%}   missed: {missed}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


def _grid(doc, count, chunk_tokens: int, embedder: Embedder, questions: list[dict], query_vectors,
          passages: list[tuple[int, int]], args: argparse.Namespace) -> list[dict]:
    """One row per (RRF k, dense weight, admissions) at one chunk size; the chunks are embedded once."""
    chunks = chunk_document(doc, count, chunk_tokens)
    # The text alone: the citation header (file name, lines) says nothing about the content.
    vectors = embedder.embed([chunk.text for chunk in chunks])
    relevant = [{i for i, c in enumerate(chunks) if c.start < end and start < c.end} for start, end in passages]
    keyword = [bm25_scores([c.text for c in chunks], q["question"]) for q in questions]
    dense = [(vectors @ query).tolist() for query in query_vectors]
    base = {"bm25": [ranking(s) for s in keyword], "dense": [ranking(s) for s in dense]}
    rows = []
    for rrf_k, weight, top in itertools.product(args.rrf_k, args.dense_weight, args.dense_top):
        admitted = len(chunks) if top is ALL else top
        hybrid = [ranking(hybrid_scores(kw, dn, rrf_k, admitted, weight)) for kw, dn in zip(keyword, dense)]
        setting = {"chunk_tokens": chunk_tokens, "rrf_k": rrf_k, "dense_weight": weight,
                   "dense_top": "all" if top is ALL else top}
        rows.append(_row(questions, relevant, dict(base, hybrid=hybrid), args.k, len(chunks), setting))
    return rows


def _row(questions: list[dict], relevant: list[set[int]], orders: dict[str, list[list[int]]], k: int,
         chunks: int, setting: dict) -> dict:
    hits = {name: 0 for name in orders}
    missed: dict[str, list[int]] = {name: [] for name in orders}
    for n, q in enumerate(questions):
        for name, per_question in orders.items():
            if relevant[n] & set(per_question[n][:k]):
                hits[name] += 1
            else:
                missed[name].append(q["id"])
    total = len(questions)
    return {"setting": setting, "chunks": chunks, "chunk_tokens": setting["chunk_tokens"], "hits": hits,
            "recall": {name: round(hit / total, 3) for name, hit in hits.items()},
            "margin_points": round(100 * (hits["hybrid"] - hits["bm25"]) / total, 1), "missed": missed}


def _pick(rows: list[dict], grid: dict) -> dict:
    def changed(row: dict) -> tuple[int, int]:
        knobs = [(name, value) for name, value in row["setting"].items() if value != APP_DEFAULTS[name]]
        steps = sum(abs(grid[name].index(_arg(value)) - grid[name].index(_arg(APP_DEFAULTS[name])))
                    for name, value in knobs if _arg(APP_DEFAULTS[name]) in grid[name])
        return len(knobs), steps

    return min(rows, key=lambda row: (-(row["hits"]["hybrid"] - row["hits"]["bm25"]), *changed(row)))


def _arg(value: object) -> object:
    return ALL if value == "all" else value


def _list(kind):
    return lambda text: [kind(part) for part in text.split(",")]


def _locate(text: str, answer: str) -> tuple[int, int]:
    """The answer passage's offsets in the extracted text (whitespace may differ from the file's)."""
    match = re.search(r"\s+".join(re.escape(word) for word in answer.split()), text)
    if match is None:
        raise SystemExit(f"answer passage not found in the document: {answer[:60]!r}")
    return match.start(), match.end()


if __name__ == "__main__":
    sys.exit(main())
