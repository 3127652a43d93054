"""The retrieval question sets: every answer passage is where its offsets say it is, and only there."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"


# retrieval_questions.json is the held-out test set; retrieval_questions_dev.json is for tuning.
@pytest.mark.parametrize("name", ["retrieval_questions.json", "retrieval_questions_dev.json"])
def test_each_answer_is_the_text_at_its_offsets(name: str):
    spec = json.loads((DATA / name).read_text(encoding="utf-8"))
    text = (DATA / spec["document"]).read_text(encoding="utf-8")
    questions = spec["questions"]
    assert len(questions) >= 30
    assert len({q["question"] for q in questions}) == len(questions)
    for q in questions:
        assert " ".join(text[q["start"] : q["end"]].split()) == q["answer"], q["id"]


def test_each_dev_answer_occurs_once():
    spec = json.loads((DATA / "retrieval_questions_dev.json").read_text(encoding="utf-8"))
    text = (DATA / spec["document"]).read_text(encoding="utf-8")
    for q in spec["questions"]:
        pattern = r"\s+".join(re.escape(word) for word in q["answer"].split())
        assert len(re.findall(pattern, text)) == 1, q["id"]
