"""``POST /v1/embeddings`` as clients see it: the official openai client and raw HTTP against
``hearth-cli serve``, started here on 127.0.0.1 with the real default model and the real
embedder, installed as ``hearth-cli models install-default`` installs it."""

from __future__ import annotations

import base64
import json
import threading
import time

import numpy as np
import pytest

from engine.runtime.embedder import Embedder

from tests.engine.serve_process import serve

openai = pytest.importorskip("openai")
pytestmark = pytest.mark.slow
MODEL = "SmolLM2-135M-Instruct"
EMBEDDER = "all-MiniLM-L6-v2"
CAT, CAT_AGAIN = "The cat sat on the mat.", "A cat was sitting on the rug."
TAXES = "Quarterly tax filings are due in April."


@pytest.fixture(scope="module")
def server(default_model_dir, embedder_dir):
    with serve(default_model_dir, home=embedder_dir.parents[2]) as served:
        yield served


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"{server.base}/v1", api_key="unused", max_retries=0)


def _float_vectors(server, texts: str | list[str], encoding_format: str) -> np.ndarray:
    status, raw = server.request("POST", "/v1/embeddings",
                                 {"model": EMBEDDER, "input": texts, "encoding_format": encoding_format})
    assert status == 200, raw
    rows = [d["embedding"] for d in json.loads(raw)["data"]]
    if encoding_format == "base64":  # OpenAI's encoding: the float32 vector's little-endian bytes
        return np.stack([np.frombuffer(base64.b64decode(row), dtype="<f4") for row in rows])
    return np.array(rows, dtype=np.float64)


def test_serve_says_where_the_embeddings_are(server):
    assert server.proc.stdout.readline().startswith(f"serving {MODEL} at {server.base}/v1 ")
    assert server.proc.stdout.readline() == f"embeddings from {EMBEDDER} at {server.base}/v1/embeddings\n"


def test_models_lists_the_embedder_after_the_chat_model(client):
    assert [m.id for m in client.models.list().data] == [MODEL, EMBEDDER]


def test_a_string_and_a_list_get_the_embedders_unit_vectors_in_order(client, embedder_dir):
    one = client.embeddings.create(model=EMBEDDER, input=CAT)
    assert one.model == EMBEDDER and [d.index for d in one.data] == [0]
    assert one.usage.prompt_tokens == one.usage.total_tokens == 9  # [CLS] the cat sat on the mat . [SEP]
    texts = [TAXES, CAT, "Stop.", CAT_AGAIN]  # lengths out of order: the server batches by length
    many = client.embeddings.create(model=EMBEDDER, input=texts)
    assert [d.index for d in many.data] == [0, 1, 2, 3]
    vectors = np.array([d.embedding for d in many.data])
    assert vectors.shape == (4, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(vectors[1], one.data[0].embedding, atol=1e-5)
    alone = Embedder(embedder_dir, threads=1).embed(texts)
    np.testing.assert_allclose(vectors, alone, atol=1e-5)


def test_paraphrases_are_nearer_each_other_than_an_unrelated_sentence(client):
    reply = client.embeddings.create(model=EMBEDDER, input=[CAT, CAT_AGAIN, TAXES])
    cat, cat_again, taxes = (np.array(d.embedding) for d in reply.data)
    assert cat @ cat_again > max(cat @ taxes, cat_again @ taxes) + 0.3


def test_base64_and_float_give_the_same_vectors(server, client):
    texts = [CAT, TAXES]
    as_floats = _float_vectors(server, texts, "float")
    as_base64 = _float_vectors(server, texts, "base64")
    np.testing.assert_array_equal(as_base64.astype(np.float64), as_floats)
    by_default = client.embeddings.create(model=EMBEDDER, input=texts)  # the client asks for base64 and decodes
    np.testing.assert_array_equal(np.array([d.embedding for d in by_default.data]), as_floats)


def test_bad_requests_get_openais_errors(server, client):
    with pytest.raises(openai.NotFoundError) as e:
        client.embeddings.create(model="text-embedding-3-small", input=CAT)
    assert e.value.code == "model_not_found" and EMBEDDER in e.value.message
    with pytest.raises(openai.NotFoundError) as e:
        client.embeddings.create(model=MODEL, input=CAT)
    assert "chat model" in e.value.message and EMBEDDER in e.value.message
    for token_ids in ([464, 3797, 3332], [[464, 3797], [3332]]):
        with pytest.raises(openai.BadRequestError) as e:
            client.embeddings.create(model=EMBEDDER, input=token_ids)
        assert e.value.param == "input" and "token ids" in e.value.message
    for empty in ([], "", [CAT, ""]):
        with pytest.raises(openai.BadRequestError) as e:
            client.embeddings.create(model=EMBEDDER, input=empty)
        assert e.value.param == "input" and "empty" in e.value.message
    with pytest.raises(openai.BadRequestError) as e:
        client.embeddings.create(model=EMBEDDER, input=["a"] * 2049)
    assert e.value.param == "input" and "at most 2048" in e.value.message
    with pytest.raises(openai.BadRequestError) as e:
        client.embeddings.create(model=EMBEDDER, input=CAT, dimensions=128)
    assert e.value.param == "dimensions" and "384" in e.value.message
    assert len(client.embeddings.create(model=EMBEDDER, input=CAT, dimensions=384).data[0].embedding) == 384
    status, raw = server.request("POST", "/v1/embeddings", {"model": EMBEDDER, "input": CAT, "encoding_format": "int8"})
    assert status == 400 and json.loads(raw)["error"]["param"] == "encoding_format"
    status, raw = server.request("POST", "/v1/embeddings", {"model": EMBEDDER, "input": CAT, "pooling": "cls"})
    assert status == 400 and json.loads(raw)["error"]["param"] == "pooling"


def test_a_long_embedding_does_not_hold_up_other_requests(server):
    texts = [f"{i} " + "a long sentence that the encoder reads to its limit " * 30 for i in range(48)]
    answers: list[tuple[int, bytes]] = []
    worker = threading.Thread(target=lambda: answers.append(server.request(
        "POST", "/v1/embeddings", {"model": EMBEDDER, "input": texts}, timeout=300)))
    worker.start()
    time.sleep(0.5)
    start = time.monotonic()
    assert server.request("GET", "/health", timeout=10)[0] == 200
    assert server.request("GET", "/v1/models", timeout=10)[0] == 200
    waited = time.monotonic() - start
    assert worker.is_alive(), "the embedding finished first: make it longer, or this test shows nothing"
    assert waited < 1.0, f"the event loop was held for {waited:.1f} s"
    worker.join(300)
    status, raw = answers[0]
    assert status == 200 and len(json.loads(raw)["data"]) == 48


def test_without_the_embedder_the_route_says_how_to_install_it_and_finds_it_once_installed(
        default_model_dir, embedder_dir, tmp_path):
    with serve(default_model_dir, home=tmp_path) as served:
        served.proc.stdout.readline()
        assert served.proc.stdout.readline() == ("no embedder installed: /v1/embeddings answers an error until "
                                                 "`hearth-cli models install-default` installs one\n")
        client = openai.OpenAI(base_url=f"{served.base}/v1", api_key="unused", max_retries=0)
        assert [m.id for m in client.models.list().data] == [MODEL]
        with pytest.raises(openai.NotFoundError) as e:
            client.embeddings.create(model=EMBEDDER, input=CAT)
        assert "hearth-cli models install-default" in e.value.message

        (tmp_path / "data" / "embedders").mkdir(parents=True)
        (tmp_path / "data" / "embedders" / EMBEDDER).symlink_to(embedder_dir, target_is_directory=True)
        assert [m.id for m in client.models.list().data] == [MODEL, EMBEDDER]
        assert len(client.embeddings.create(model=EMBEDDER, input=CAT).data[0].embedding) == 384
