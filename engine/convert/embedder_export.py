"""``python -I embedder_export.py SRC OUT``: the embedder's child step.

Exports the BERT encoder in the sentence-transformers folder SRC to ``OUT/model.onnx``
(``last_hidden_state`` out; pooling is done by ``engine.runtime.embedder``), then checks
the ONNX file against torch on a padded batch before the parent keeps it. Runs in a
child process because it imports torch, which the app never does; it imports nothing
from ``engine``, so it runs as a plain script.
"""

from __future__ import annotations

import sys
from pathlib import Path

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OPSET = 17
# Short and long sentences in one batch, so the check covers padding.
_CHECK = ("A short one.", "The GNU General Public License is a free, copyleft license for software and other works.")


def export(src: Path, out: Path) -> None:
    """Write ``out/model.onnx`` from the encoder in ``src`` and verify it (raises on a mismatch)."""
    import torch
    from transformers import BertModel

    # Eager attention traces to plain ops; the pooler head is not part of the sentence model.
    model = BertModel.from_pretrained(str(src), add_pooling_layer=False, attn_implementation="eager").eval()
    example = _batch(src, _CHECK)
    with torch.no_grad():
        torch.onnx.export(
            _encoder(model),
            tuple(torch.from_numpy(example[name]) for name in INPUTS),
            str(out / "model.onnx"),
            dynamo=False,  # the TorchScript exporter: no onnxscript needed, one self-contained file
            input_names=list(INPUTS),
            output_names=["last_hidden_state"],
            dynamic_axes={name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "last_hidden_state")},
            opset_version=OPSET,
        )
    _verify(model, out / "model.onnx", src)


def _encoder(model):  # type: ignore[no-untyped-def]
    """``model`` with positional inputs and one output, as the exporter wants it."""
    import torch

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = model

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            # The additive mask is built here, not by transformers' mask helpers: those
            # branch on the example's shapes, and a traced branch is frozen into the graph.
            hidden = self.bert.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
            keep = attention_mask[:, None, None, :].to(hidden.dtype)
            bias = (1.0 - keep) * torch.finfo(hidden.dtype).min
            return self.bert.encoder(hidden, attention_mask=bias).last_hidden_state

    # In eval mode: the exporter restores the wrapper's mode afterwards, and a fresh
    # module is in training mode, which would switch dropout on in ``model`` too.
    return Encoder().eval()


def _batch(src: Path, texts: tuple[str, ...]) -> dict:  # type: ignore[type-arg]
    import numpy as np
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(src / "tokenizer.json"))
    tokenizer.no_padding()
    encodings = tokenizer.encode_batch(list(texts))
    width = max(len(e.ids) for e in encodings)
    arrays = {name: np.zeros((len(texts), width), dtype=np.int64) for name in INPUTS}
    for row, enc in enumerate(encodings):
        n = len(enc.ids)
        arrays["input_ids"][row, :n] = enc.ids
        arrays["attention_mask"][row, :n] = enc.attention_mask
        arrays["token_type_ids"][row, :n] = enc.type_ids
    return arrays


def _verify(model, onnx_path: Path, src: Path) -> None:  # type: ignore[no-untyped-def]
    import numpy as np
    import onnxruntime as ort
    import torch

    texts = (*_CHECK, "Another sentence of middling length, to pad.")
    batch = _batch(src, texts)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (got,) = session.run(["last_hidden_state"], batch)
    with torch.no_grad():
        want = model(**{k: torch.from_numpy(v) for k, v in batch.items()}).last_hidden_state.numpy()
    mask = batch["attention_mask"].astype(bool)
    error = float(np.abs(got[mask] - want[mask]).max())
    if error > 1e-3:
        raise SystemExit(f"the exported encoder differs from torch by {error:.2e} on real tokens")
    print(f"exported {onnx_path.name}; largest difference from torch on real tokens: {error:.2e}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python embedder_export.py SRC_DIR OUT_DIR")
    export(Path(sys.argv[1]), Path(sys.argv[2]))
