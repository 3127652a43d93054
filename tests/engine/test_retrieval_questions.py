"""The retrieval question set: every answer passage is where its offsets say it is."""

from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"


def test_each_answer_is_the_text_at_its_offsets():
    spec = json.loads((DATA / "retrieval_questions.json").read_text(encoding="utf-8"))
    text = (DATA / spec["document"]).read_text(encoding="utf-8")
    questions = spec["questions"]
    assert len(questions) >= 30
    assert len({q["question"] for q in questions}) == len(questions)
    for q in questions:
        assert " ".join(text[q["start"] : q["end"]].split()) == q["answer"], q["id"]
