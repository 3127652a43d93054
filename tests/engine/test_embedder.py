"""The ONNX embedder against the reference implementation, and its pooling on hand-made arrays."""

from __future__ import annotations

import numpy as np
import pytest

from engine.runtime.embedder import Embedder, pool

# Twenty sentences of different lengths and kinds, one past the 256-token limit.
SENTENCES = [
    "The cat sat on the mat.",
    "A man is playing a guitar on stage.",
    "How do I reset my password?",
    "Quantum computers use qubits instead of bits.",
    "The GNU General Public License is a free, copyleft license for software and other kinds of works.",
    "Paris is the capital of France.",
    "I'd like two coffees and a croissant, please!",
    "def add(a, b):\n    return a + b",
    "The quarterly report shows revenue grew by 12% year over year.",
    "Photosynthesis converts light energy into chemical energy.",
    "Ünïcödé, émojis 🙂 and ＦＵＬＬＷＩＤＴＨ letters.",
    "Stop.",
    "The patient was advised to rest and drink plenty of fluids.",
    "Rain is expected tomorrow afternoon in the northern regions.",
    "She signed the contract after reading every clause twice.",
    "Termination of your rights under this section does not terminate the licenses of parties "
    "who have received copies or rights from you under this License.",
    "Neural networks are trained with gradient descent.",
    "42",
    "The train to Edinburgh leaves from platform nine.",
    " ".join(["This sentence repeats to exceed the encoder's limit of two hundred and fifty-six tokens."] * 20),
]


def test_pool_is_the_masked_mean_scaled_to_unit_length():
    hidden = np.array([[[1.0, 0.0], [3.0, 4.0], [100.0, 100.0]]], dtype=np.float32)
    mask = np.array([[1, 1, 0]])
    np.testing.assert_allclose(pool(hidden, mask, normalize=False), [[2.0, 2.0]])
    np.testing.assert_allclose(pool(hidden, mask, normalize=True), [[2**-0.5, 2**-0.5]], rtol=1e-6)


def test_vectors_match_the_reference_implementation(embedder_dir, embedder_source):
    torch = pytest.importorskip("torch", reason="the reference needs the [convert] extra")
    from transformers import AutoTokenizer, BertModel

    tokenizer = AutoTokenizer.from_pretrained(str(embedder_source))
    model = BertModel.from_pretrained(str(embedder_source), add_pooling_layer=False).eval()
    batch = tokenizer(SENTENCES, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    # sentence-transformers' Pooling (mean) and Normalize modules, written out.
    mask = batch["attention_mask"].unsqueeze(-1).float()
    want = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=1).numpy()

    got = Embedder(embedder_dir, threads=2).embed(SENTENCES, batch_size=8)

    assert got.shape == (20, 384)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-5)
    cosines = (got * want).sum(axis=1)
    assert cosines.min() >= 0.999, cosines


def test_batching_does_not_change_a_vector(embedder_dir):
    embedder = Embedder(embedder_dir, threads=2)
    together = embedder.embed(SENTENCES[:6], batch_size=6)
    alone = np.stack([embedder.embed([text])[0] for text in SENTENCES[:6]])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)


def test_paraphrases_are_nearer_each_other_than_unrelated_sentences(embedder_dir):
    a, b, other = Embedder(embedder_dir, threads=2).embed(
        ["Can I sell copies of this program?", "Am I allowed to charge money for copies of the software?",
         "The weather in the mountains is cold in winter."]
    )
    assert a @ b > a @ other + 0.3
