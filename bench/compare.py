"""Hearth's engine against onnxruntime-genai (and llama.cpp and optimum when installed), side by side.

Follows ../shared/BENCHMARKS.md: the same token ids for every engine, greedy with
EOS suppressed, exactly 128 new tokens, 2 threads, engines interleaved in one
process with the order rotated each round, medians and ratios printed.

    python bench/compare.py [--model DIR] [--rounds 5] [--json bench/results/latest.json]
    python bench/compare.py --gguf MODEL.gguf --optimum OPTIMUM_EXPORT_DIR   # add the other peers

Peak RSS is measured in a fresh process per engine (``--rss ENGINE``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import GenaiEngine, HearthEngine, LlamaCppEngine, OptimumEngine  # noqa: E402

from engine.generation.benchmark import LONG_QUESTION, SHORT_QUESTION  # noqa: E402
from engine.runtime.catalog import resolve_model  # noqa: E402
from engine.runtime.tokenizer import TextCodec  # noqa: E402

CHAT_QUESTIONS = [
    "What is a hearth?",
    "How did people keep a fire going overnight?",
    "Why did chimneys change the shape of houses?",
    "What fuels did people burn when there was no wood?",
    "Tell me about Vesta and her temple.",
    "What is a curfew and where does the word come from?",
    "How did people cook over an open fire?",
    "What dangers did open fires bring to towns?",
    "Why do people still like fireplaces today?",
    "Summarize our conversation in three sentences.",
]


def _engines(args: argparse.Namespace, folder: Path, context: int) -> list:
    engines = [HearthEngine(folder, args.threads, context), GenaiEngine(folder, args.threads, context)]
    if args.gguf:
        try:
            engines.append(LlamaCppEngine(Path(args.gguf), args.threads, context))
        except ImportError:
            print("llama-cpp-python is not installed: llama.cpp left out", file=sys.stderr)
    if args.optimum:
        try:
            engines.append(OptimumEngine(Path(args.optimum), args.threads, context))
        except ImportError:
            print("optimum[onnxruntime] is not installed: optimum left out", file=sys.stderr)
    return engines


def _rotated(engines: list, round_index: int) -> list:
    shift = round_index % len(engines)
    return engines[shift:] + engines[:shift]


def bench_prompts(args, engines, codec) -> dict:
    results = {}
    for label, question in (("short", SHORT_QUESTION), ("long", LONG_QUESTION)):
        ids = codec.encode_chat([{"role": "user", "content": question}])
        samples = {e.name: {"ttft_ms": [], "decode_tps": []} for e in engines}
        outputs = {}
        for r in range(args.rounds + 1):  # round 0 warms every engine up and is not counted
            for engine in _rotated(engines, r):
                out, ttft, tps = engine.run(ids, args.new_tokens)
                outputs[engine.name] = out
                if r:
                    samples[engine.name]["ttft_ms"].append(ttft * 1000)
                    samples[engine.name]["decode_tps"].append(tps)
        results[label] = {
            "prompt_tokens": len(ids),
            "engines": {
                name: {
                    "ttft_ms": statistics.median(s["ttft_ms"]),
                    "decode_tps": statistics.median(s["decode_tps"]),
                    "same_ids_as_hearth": outputs[name] == outputs["hearth"],
                    "samples": s,
                }
                for name, s in samples.items()
            },
        }
    return results


def bench_chat(args, engines, codec) -> dict:
    """A growing chat; Hearth reuses its cache, genai gets a fresh generator per turn."""
    messages = [{"role": "system", "content": "You are a helpful assistant who answers in detail."}]
    turns = []
    for question in CHAT_QUESTIONS[: args.chat_turns]:
        messages.append({"role": "user", "content": question})
        ids = codec.encode_chat(messages)
        turn = {"prompt_tokens": len(ids)}
        reply = None
        for engine in engines[:2]:  # llama.cpp and optimum are left out of the chat: no comparable reuse here
            out, ttft, _ = engine.run(ids, args.chat_tokens, cold=False)
            turn[f"{engine.name}_ttft_ms"] = ttft * 1000
            if engine.name == "hearth":
                reply = out
        messages.append({"role": "assistant", "content": codec.decode(reply)})
        turns.append(turn)
    return {"turns": turns}


def peak_rss_bytes() -> int:
    """This process's peak RSS. VmHWM restarts at exec; ru_maxrss would include the parent's."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def measure_rss(args: argparse.Namespace, engine_name: str, folder: Path) -> int:
    """Run the long prompt once in this (fresh) process; return peak RSS in bytes."""
    ids = json.loads(Path(args.rss_ids).read_text())
    cls = {"hearth": HearthEngine, "onnxruntime-genai": GenaiEngine}[engine_name]
    engine = cls(folder, args.threads, args.rss_context)
    engine.run(ids, args.new_tokens)
    return peak_rss_bytes()


def rss_in_subprocess(args: argparse.Namespace, name: str, folder: Path, ids: list[int]) -> int:
    """Peak RSS of one engine alone, in a fresh process given the prompt's ids."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(ids, f)
    cmd = [sys.executable, __file__, "--model", str(folder), "--rss", name, "--rss-ids", f.name]
    cmd += ["--rss-context", str(args.rss_context), "--threads", str(args.threads), "--new-tokens", str(args.new_tokens)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(f.name)
    return int(out.strip().splitlines()[-1])


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def report(results: dict) -> None:
    print(f"\n{'':14}{'engine':20}{'TTFT ms':>10}{'decode tok/s':>14}{'same ids':>10}")
    for label in ("short", "long"):
        part = results[label]
        for name, r in part["engines"].items():
            print(f"{label + ' (' + str(part['prompt_tokens']) + ')':14}{name:20}{r['ttft_ms']:10.1f}{r['decode_tps']:14.1f}{str(r['same_ids_as_hearth']):>10}")
        h, g = part["engines"]["hearth"], part["engines"]["onnxruntime-genai"]
        print(f"{'':14}{'ratio hearth/genai':20}{_ratio(h['ttft_ms'], g['ttft_ms']):10.2f}x{_ratio(h['decode_tps'], g['decode_tps']):13.2f}x")
    turns = results["chat"]["turns"]
    if turns:
        print("\nchat turn  prompt tokens  hearth TTFT ms  genai TTFT ms  ratio")
        for i, t in enumerate(turns, 1):
            ratio = _ratio(t["hearth_ttft_ms"], t["onnxruntime-genai_ttft_ms"])
            print(f"{i:9}{t['prompt_tokens']:15}{t['hearth_ttft_ms']:16.1f}{t['onnxruntime-genai_ttft_ms']:15.1f}{ratio:7.2f}x")
    rss = results.get("peak_rss_mb")
    if rss:
        print("\npeak RSS (long prompt, context %d): " % results["rss_context"] + ", ".join(f"{k} {v:.0f} MB" for k, v in rss.items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: the installed default model)")
    parser.add_argument("--gguf", help="the source GGUF, to include llama.cpp when llama-cpp-python is installed")
    parser.add_argument("--optimum", help="an optimum export of the same model, to include optimum when it is installed")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--chat-turns", type=int, default=10)
    parser.add_argument("--chat-tokens", type=int, default=192, help="reply length per chat turn (10 turns reach ~2,000 tokens)")
    parser.add_argument("--context", type=int, default=4096)
    parser.add_argument("--rss-context", type=int, default=2048)
    parser.add_argument("--rss", help=argparse.SUPPRESS)
    parser.add_argument("--rss-ids", help=argparse.SUPPRESS)
    parser.add_argument("--json", default=str(Path(__file__).parent / "results" / "latest.json"))
    args = parser.parse_args()
    folder = resolve_model(args.model)
    if args.rss:
        print(measure_rss(args, args.rss, folder))
        return 0
    codec = TextCodec(folder)
    engines = _engines(args, folder, args.context)
    results = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, threads {args.threads}",
        "model": str(folder),
        "rounds": args.rounds,
        "new_tokens": args.new_tokens,
    }
    results.update(bench_prompts(args, engines, codec))
    results["chat"] = bench_chat(args, engines, codec)
    del engines
    results["rss_context"] = args.rss_context
    long_ids = codec.encode_chat([{"role": "user", "content": LONG_QUESTION}])
    results["peak_rss_mb"] = {
        n: rss_in_subprocess(args, n, folder, long_ids) / 1e6 for n in ("hearth", "onnxruntime-genai")
    }
    report(results)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"\nwritten: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
