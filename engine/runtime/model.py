"""Open a model folder in any of the three layouts and get it ready to run."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from engine.core.errors import ModelLoadError
from engine.core.events import LoadOptions, LoadReport, ModelInfo
from engine.runtime.confine import check_external_data, confined_file
from engine.runtime.graph import GraphSpec, inspect_graph, load_graph
from engine.runtime.graph_edits import add_argmax_output, alias_reshaped_weights, logits_for_trailing_positions
from engine.runtime.graph_outline import read_outline
from engine.runtime.info_cache import cached_spec
from engine.runtime.memory import anonymous_ranges, collapse_to_huge_pages, release_mapped_files
from engine.runtime.model_config import check_against_graph, read_configs
from engine.runtime.providers import create_session
from engine.runtime.runner import DecoderRunner
from engine.runtime.tokenizer import TextCodec

# onnx-community folders ship several precisions; on CPU the smallest fast one wins.
_COMMUNITY_PREFERENCE = (
    "model_q4.onnx",
    "model_int8.onnx",
    "model_quantized.onnx",
    "model_uint8.onnx",
    "model_q4f16.onnx",
    "model_fp16.onnx",
    "model.onnx",
)


@dataclass(frozen=True)
class ModelFiles:
    """Where a folder keeps its graph and configs, and which layout it follows."""

    folder: Path
    graph: Path
    layout: str
    genai: dict
    config: dict
    generation: dict
    hearth: dict  # what the converter recorded ({} for a folder Hearth did not convert)


def locate(folder: Path) -> ModelFiles:
    """Find the graph in a folder; raise ``ModelLoadError`` if there is none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelLoadError(f"{folder} is not a folder. Choose the folder that holds the model's .onnx file.")
    configs = read_configs(folder)
    genai, config, generation, hearth = configs.genai, configs.config, configs.generation, configs.hearth
    if genai:
        name = genai.get("model", {}).get("decoder", {}).get("filename", "model.onnx")
        graph = confined_file(folder, name, "model.decoder.filename", str(folder / "genai_config.json"))
        return ModelFiles(folder, graph, "genai", genai, config, generation, hearth)
    for name in ("model.onnx", *(f"onnx/{n}" for n in _COMMUNITY_PREFERENCE)):
        if (folder / name).is_file():
            layout = "optimum" if name == "model.onnx" else "onnx-community"
            graph = confined_file(folder, name, "graph file", str(folder))  # a symlink may lead out
            return ModelFiles(folder, graph, layout, genai, config, generation, hearth)
    raise ModelLoadError(
        f"{folder} holds no ONNX model (looked for genai_config.json, model.onnx and onnx/model_*.onnx)."
    )


def _as_list(value: object) -> list[int]:
    if value is None:
        return []
    return [int(v) for v in value] if isinstance(value, list) else [int(value)]


def eos_ids(files: ModelFiles, codec: TextCodec) -> frozenset[int]:
    """End-of-sequence ids from the GenAI or generation config, then the tokenizer."""
    ids = _as_list(files.genai.get("model", {}).get("eos_token_id"))
    ids += _as_list(files.generation.get("eos_token_id"))
    if not ids:
        ids = _as_list(files.config.get("eos_token_id"))
    if not ids and codec.eos_token and codec.token_id(codec.eos_token) is not None:
        ids = [codec.token_id(codec.eos_token)]
    return frozenset(ids)


def head_size_hint(files: ModelFiles) -> int:
    decoder = files.genai.get("model", {}).get("decoder", {})
    cfg = files.config
    if decoder.get("head_size"):
        return int(decoder["head_size"])
    if cfg.get("head_dim"):
        return int(cfg["head_dim"])
    if cfg.get("hidden_size") and cfg.get("num_attention_heads"):
        return int(cfg["hidden_size"]) // int(cfg["num_attention_heads"])
    return 0


def describe(files: ModelFiles, spec: GraphSpec) -> ModelInfo:
    """The picker's view of a model, from its configs and its graph."""
    decoder = files.genai.get("model", {}).get("decoder", {})
    cfg = files.config
    arch = (cfg.get("architectures") or [files.genai.get("model", {}).get("type", "unknown")])[0]
    heads = decoder.get("num_attention_heads") or cfg.get("num_attention_heads") or 0
    max_context = (
        files.genai.get("model", {}).get("context_length") or cfg.get("max_position_embeddings") or 2048
    )
    kv_itemsize = 2 if spec.kv_dtype == "float16" else 4
    requantized = files.hearth.get("requantized")  # a list of names, checked by read_configs
    # The graph plus its external data files (model.onnx, model.onnx.data, model.onnx_data...).
    size = sum(
        p.stat().st_size
        for p in files.graph.parent.iterdir()
        if p.is_file() and p.name.startswith(files.graph.name)
    )
    return ModelInfo(
        name=files.folder.name,
        path=str(files.folder),
        layout=files.layout,
        architecture=str(arch),
        parameters=spec.weight_count,
        layers=spec.num_layers,
        heads=int(heads),
        kv_heads=spec.kv_heads,
        head_size=spec.head_size,
        hidden_size=int(decoder.get("hidden_size") or cfg.get("hidden_size") or 0),
        vocab_size=int(files.genai.get("model", {}).get("vocab_size") or cfg.get("vocab_size") or 0),
        max_context=int(max_context),
        precision=spec.precision,
        size_bytes=size,
        kv_bytes_per_token=2 * spec.num_layers * spec.kv_heads * spec.head_size * kv_itemsize,
        route=str(files.hearth.get("route") or ""),
        requantized=tuple(requantized) if requantized is not None else None,
    )


def read_info(folder: Path) -> ModelInfo:
    """ModelInfo without starting a session.

    Cheap: the graph's structure is read without its weights, and only when the
    folder's files changed since the last time (see engine.runtime.info_cache).
    """
    files = locate(folder)
    hint = head_size_hint(files)

    def read_graph() -> GraphSpec:
        outline = read_outline(files.graph)
        check_external_data(outline, files.graph, files.folder)
        return inspect_graph(outline, hint)

    spec = cached_spec(files.folder, read_graph)
    check_against_graph(files.genai, files.config, spec, files.folder)
    return describe(files, spec)


def _session_options(threads: int | None, spin: bool = True) -> ort.SessionOptions:
    options = ort.SessionOptions()
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3  # keep provider fallbacks out of the user's terminal
    return options


class LoadedModel:
    """A model ready to generate: session, runner with its KV cache, tokenizer."""

    def __init__(self, folder: Path | str, options: LoadOptions | None = None) -> None:
        options = options or LoadOptions()
        start = time.perf_counter()
        self.files = locate(Path(folder))
        self.codec = TextCodec(self.files.folder)
        proto = load_graph(self.files.graph)
        check_external_data(proto, self.files.graph, self.files.folder)
        self.spec = inspect_graph(proto, head_size_hint(self.files))
        check_against_graph(self.files.genai, self.files.config, self.spec, self.files.folder)
        self.info = describe(self.files, self.spec)
        sliced = logits_for_trailing_positions(proto)
        if sliced:
            self.spec = inspect_graph(proto, head_size_hint(self.files))
        aliased = alias_reshaped_weights(proto)
        argmax = add_argmax_output(proto)
        context = max(16, min(options.context_length, self.info.max_context))
        graph_bytes = proto.SerializeToString() if sliced or aliased or argmax else None
        del proto

        def build(providers: list[str]) -> ort.InferenceSession:
            session_options = _session_options(options.threads, options.spin)
            source: str | bytes = str(self.files.graph)
            if graph_bytes is not None:
                # The edited graph lives in memory; its weights stay in the folder on disk.
                session_options.add_session_config_entry(
                    "session.model_external_initializers_file_folder_path", str(self.files.graph.parent)
                )
                source = graph_bytes
            return ort.InferenceSession(source, session_options, providers=providers)

        before_load = anonymous_ranges()
        try:
            session, attempt, reasons = create_session(build, options.provider)
        except Exception as exc:
            raise ModelLoadError(
                f"ONNX Runtime could not open {self.files.graph.name} in {self.files.folder}: "
                f"{str(exc).splitlines()[0][:300]}. The file may be truncated or corrupt: convert or copy it again."
            ) from None
        release_mapped_files(self.files.graph.parent)
        # Only the memory this load added: other threads' memory is left alone.
        self.huge_pages = collapse_to_huge_pages(since=before_load)
        device = {"cuda": "cuda", "dml": "dml"}.get(attempt.choice, "cpu")
        try:
            self.runner = DecoderRunner(session, self.spec, context, device, options.slots)
        except Exception as exc:  # ONNX Runtime and numpy raise many types for a bad shape
            raise ModelLoadError(
                f"The model in {self.files.folder} could not be prepared to run "
                f"({exc.__class__.__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}). "
                "Its config may not match its graph: convert or copy the model again."
            ) from None
        self.eos_ids = eos_ids(self.files, self.codec)
        self.context_length = context
        self.report = LoadReport(
            provider=attempt.choice,
            device=attempt.device,
            fallback_reasons=reasons,
            load_seconds=time.perf_counter() - start,
        )


def load_model(folder: Path | str, options: LoadOptions | None = None) -> LoadedModel:
    """Open ``folder`` and return a model ready to generate."""
    return LoadedModel(folder, options)
