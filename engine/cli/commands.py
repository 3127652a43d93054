"""``hearth-cli``: everything the app does, on the same engine API, without Qt."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from engine.cli import catalogue_commands, remote_commands
from engine.cli.repl import user_lines
from engine.core.errors import EngineError, ModelLoadError
from engine.core.events import GenerationEvent, LoadOptions, ModelInfo, SamplingParams
from engine.core.limits import SAMPLING_LIMITS
from engine.runtime.catalog import installed_models, resolve_model


def _add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", "-m", help="model folder or installed model name (default: the default model); "
                                              "with --remote/--base-url, the server's model id")
    parser.add_argument("--context", type=int, default=4096, help="context length the KV cache is sized to")
    parser.add_argument("--provider", default="auto", choices=["auto", "cpu", "cuda", "dml", "coreml"])
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")


def _bounded(name: str) -> Callable[[str], float]:
    """An argparse ``type`` that refuses values outside the engine's limit for ``name``."""
    limit = SAMPLING_LIMITS[name]

    def parse(text: str) -> float:
        try:
            value = limit.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'a whole number' if limit.whole else 'a number'}")
        problem = limit.problem(value)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value

    parse.__name__ = limit.kind.__name__  # argparse names the type in its messages
    return parse


def _add_sampling_args(parser: argparse.ArgumentParser) -> None:
    # Ranges, defaults and help come from engine.core.limits, as in the app and the server.
    for flag, name in (("--max-new-tokens", "max_new_tokens"), ("--temperature", "temperature"), ("--top-k", "top_k"),
                       ("--top-p", "top_p"), ("--min-p", "min_p"), ("--repetition-penalty", "repetition_penalty"),
                       ("--seed", "seed")):
        limit = SAMPLING_LIMITS[name]
        parser.add_argument(flag, type=_bounded(name), default=limit.default, help=limit.help())
    parser.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")


def _sampling(args: argparse.Namespace) -> SamplingParams:
    return SamplingParams(
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        min_p=args.min_p,
        repetition_penalty=args.repetition_penalty,
        seed=args.seed,
        max_new_tokens=args.max_new_tokens,
        stop=tuple(args.stop),
    )


def _load_options(args: argparse.Namespace) -> LoadOptions:
    # A target with a draft model takes turns with it on the cores: neither may spin (see load_draft).
    return LoadOptions(provider=args.provider, threads=args.threads, context_length=args.context,
                       slots=getattr(args, "slots", 1), spin=getattr(args, "speculate", "off") != "draft")


def _load(args: argparse.Namespace):
    from engine.runtime.model import load_model

    return load_model(resolve_model(args.model), _load_options(args))


def stats_line(event: GenerationEvent) -> str:
    """One line of figures, as the app's metrics bar shows them."""
    parts = [f"finish={event.finish_reason}"]
    if event.ttft_s is not None:
        parts.append(f"ttft={event.ttft_s * 1000:.0f} ms")
    if event.prefill_tps:
        parts.append(f"prefill={event.prefill_tps:.0f} tok/s")
    if event.decode_tps:
        parts.append(f"decode={event.decode_tps:.1f} tok/s")
    parts.append(f"tokens={event.generated_tokens}")
    parts.append(f"prompt={event.prompt_tokens} (cached {event.cached_tokens})")
    parts.append(f"context={event.context_used}/{event.context_size}")
    if event.drafted_tokens:  # speculative decoding appends its counts; the rest keeps its meaning
        parts.append(f"drafted={event.drafted_tokens}")
        parts.append(f"accepted={event.accepted_tokens}")
    if event.error:
        parts.append(f"error={event.error}")
    return "[" + ", ".join(parts) + "]"


def _print_stream(events: Iterator[GenerationEvent]) -> GenerationEvent:
    last = None
    for event in events:
        sys.stdout.write(event.text)
        sys.stdout.flush()
        last = event
    sys.stdout.write("\n")
    assert last is not None
    print(stats_line(last), file=sys.stderr)
    return last


def cmd_info(args: argparse.Namespace) -> int:
    model = _load(args)
    info = model.info
    report = model.report
    rows = [
        ("name", info.name),
        ("path", info.path),
        ("layout", info.layout),
        ("architecture", info.architecture),
        ("parameters", f"{info.parameters / 1e6:.1f} M"),
        ("layers / heads / kv heads / head size", f"{info.layers} / {info.heads} / {info.kv_heads} / {info.head_size}"),
        ("precision", info.precision),
        ("max context", info.max_context),
        ("size on disk", f"{info.size_bytes / 2**20:.1f} MiB"),
        (f"est. memory at {model.context_length} ctx", f"{info.estimated_memory(model.context_length) / 2**20:.1f} MiB"),
        ("provider", f"{report.provider} ({report.device})"),
        ("fallbacks", report.fallback_text or "none"),
        ("load time", f"{report.load_seconds:.2f} s"),
        ("requantized", requantized_text(info)),
    ]
    for key, value in rows:
        print(f"{key:>38}: {value}")
    return 0


# Routes that re-quantize nothing but predate the list in hearth.json: the Q4_1-only
# routes ran only when every tensor had an exact route, and fp32 keeps every weight.
_NOTHING_REQUANTIZED = ("q4_1-exact-4bit-blocksum", "q4_1-exact-8bit-blocks", "builder-fp32")


def requantized_text(info: ModelInfo, shown: int = 8) -> str:
    """The tensors the converter re-quantized (from hearth.json): "none", or their count and names."""
    names = info.requantized
    if names is None and info.route in _NOTHING_REQUANTIZED:
        names = ()
    if names is None:
        return f"not recorded (route {info.route})" if info.route else "not recorded"
    if not names:
        return "none"
    listed = ", ".join(names[:shown])
    more = f", and {len(names) - shown} more (hearth.json)" if len(names) > shown else ""
    return f"{len(names)} tensor{'s' if len(names) != 1 else ''}: {listed}{more}"


def cmd_generate(args: argparse.Namespace) -> int:
    if remote_commands.wants_remote(args):
        return remote_commands.generate(args)
    from engine.generation.chat import stream_chat
    from engine.generation.generate import stream_generate

    model = _load(args)
    prompt = args.prompt if args.prompt is not None else sys.stdin.read()
    messages = [{"role": "system", "content": args.system}] if args.system else []
    messages.append({"role": "user", "content": prompt})
    if args.speculate != "off":
        from engine.generation.chat import fit_reply_prompt
        from engine.generation.speculative import speculative_generate

        proposer = _proposer(args, model)
        fitted = None if args.raw else fit_reply_prompt(model, messages, _sampling(args), args.overflow, None)
        ids = model.codec.encode(prompt) if fitted is None else fitted[0]
        events = speculative_generate(model, ids, _sampling(args), proposer=proposer)
    elif args.raw:
        events = stream_generate(model, model.codec.encode(prompt), _sampling(args))
    else:
        events = stream_chat(model, messages, _sampling(args), policy=args.overflow)
    last = _print_stream(events)
    return 1 if last.finish_reason == "error" else 0


def _proposer(args: argparse.Namespace, model):
    """The proposer ``--speculate`` names; a draft model is checked against ``model``'s tokenizer first."""
    from engine.generation.proposers import PromptLookup, load_draft
    from engine.runtime.vocabulary import check_draft

    if args.speculate == "lookup":
        return PromptLookup()
    if not args.draft_model:
        raise ModelLoadError("--speculate draft needs --draft-model: the smaller model that drafts tokens.")
    draft = resolve_model(args.draft_model)
    check_draft(model.files.folder, draft)
    return load_draft(draft, model, _load_options(args))


def cmd_chat(args: argparse.Namespace) -> int:
    if remote_commands.wants_remote(args):
        return remote_commands.chat(args)
    from engine.generation.chat import ChatSession

    model = _load(args)
    session = ChatSession(model, args.system or "", policy=args.overflow)
    print("Hearth chat. /regen answers again, /exit quits.", file=sys.stderr)
    for line in user_lines():
        cancel = threading.Event()
        events = session.regenerate(_sampling(args), cancel=cancel) if line.strip() == "/regen" else session.send(
            line, _sampling(args), cancel=cancel
        )
        try:
            _print_stream(events)
        except KeyboardInterrupt:
            cancel.set()
            print("\n[stopped]", file=sys.stderr)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from engine.generation.benchmark import run_engine_bench

    model = _load(args)
    result = run_engine_bench(model, rounds=args.rounds, new_tokens=args.new_tokens,
                              progress=_print_bench_progress if args.progress else None)
    result.update(threads=args.threads, rounds=args.rounds, new_tokens=args.new_tokens)
    text = json.dumps(result, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    print(text)
    if args.chart:
        from engine.report.bench_chart import bench_scene, subtitle_of
        from engine.report import write_chart
        from engine.report.results import rows_of

        rows = rows_of(result)
        write_chart(bench_scene(rows, "Hearth benchmark", subtitle_of(rows)), args.chart)
        print(f"chart: {args.chart}", file=sys.stderr)
    return 0


def _print_bench_progress(done: int, total: int, what: str) -> None:
    # The "[ 42%] stage" form the app's job runner reads (as convert prints).
    print(f"[{100 * done // max(total, 1):3d}%] {what}", file=sys.stderr, flush=True)


def cmd_eval_ppl(args: argparse.Namespace) -> int:
    from engine.generation.perplexity import perplexity

    model = _load(args)
    text = Path(args.text).read_text(encoding="utf-8")
    result = perplexity(model, text, max_tokens=args.max_tokens, token_by_token=args.token_by_token)
    print(f"perplexity {result.perplexity:.4f} over {result.tokens} tokens ({model.info.name}, {model.info.precision})")
    if args.reference is not None:
        change = (result.perplexity / args.reference - 1) * 100
        print(f"change vs reference {args.reference:.4f}: {change:+.2f} %")
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    from engine.runtime.model import read_info

    for folder in installed_models():
        try:
            info = read_info(folder)
            print(f"{info.name}  {info.parameters / 1e6:.0f}M  {info.precision}  {info.size_bytes / 2**20:.0f} MiB  ctx {info.max_context}")
        except EngineError as exc:
            print(f"{folder.name}  (unusable: {exc})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hearth-cli", description="Run local language models with Hearth's engine.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("info", help="describe a model and the device it runs on")
    p.add_argument("model_pos", nargs="?", metavar="MODEL")
    _add_model_args(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("generate", help="answer one prompt, streaming")
    p.add_argument("prompt", nargs="?", help="the prompt (default: read stdin)")
    p.add_argument("--system", default="")
    p.add_argument("--raw", action="store_true", help="no chat template: continue the text")
    p.add_argument("--overflow", default="drop_oldest", choices=["stop", "drop_oldest", "truncate_middle"])
    p.add_argument("--speculate", default="off", choices=["off", "lookup", "draft"],
                   help="speculative decoding: draft from the prompt and reply so far, or with --draft-model")
    p.add_argument("--draft-model", default=None, metavar="M",
                   help="with --speculate draft: a smaller model with the same tokenizer (name or folder)")
    _add_model_args(p)
    _add_sampling_args(p)
    remote_commands.add_remote_args(p)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("chat", help="a streaming chat in the terminal")
    p.add_argument("--system", default="")
    p.add_argument("--overflow", default="drop_oldest", choices=["stop", "drop_oldest", "truncate_middle"])
    _add_model_args(p)
    _add_sampling_args(p)
    remote_commands.add_remote_args(p)
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("bench", help="time prefill and decode on the benchmark prompts")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--new-tokens", type=int, default=128)
    p.add_argument("--json", help="write the results here")
    p.add_argument("--chart", metavar="F", help="draw the results as a bar chart: F.png or F.svg")
    p.add_argument("--progress", action="store_true", help="print one '[ NN%%] case' line per run on stderr")
    _add_model_args(p)
    p.set_defaults(func=cmd_bench)

    evaluate = sub.add_parser("eval", help="measure model quality").add_subparsers(dest="metric", required=True)
    p = evaluate.add_parser("ppl", help="perplexity over a text file")
    p.add_argument("model_pos", nargs="?", metavar="MODEL")
    p.add_argument("--text", required=True)
    p.add_argument("--max-tokens", type=int, default=1024)
    p.add_argument("--reference", type=float, default=None, help="a reference perplexity to compare with")
    p.add_argument("--token-by-token", action="store_true",
                   help="feed one token per run, exactly as decoding does (slower; the default feeds chunks)")
    _add_model_args(p)
    p.set_defaults(func=cmd_eval_ppl)

    models = sub.add_parser("models", help="installed models")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    p = models_sub.add_parser("list", help="list installed models")
    p.set_defaults(func=cmd_models_list)
    catalogue_commands.register(models_sub)

    try:
        from engine.cli import convert_commands
    except ImportError:
        convert_commands = None
    if convert_commands is not None:
        convert_commands.register(sub, models_sub)
    from engine.cli import serve_commands

    serve_commands.register(sub, _add_model_args)
    remote_commands.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "model_pos", None):
        args.model = args.model_pos
    try:
        return args.func(args)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

