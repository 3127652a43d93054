"""Hearth's engine against onnxruntime-genai (and llama.cpp and optimum when installed), side by side.

Follows ../shared/BENCHMARKS.md: the same token ids for every engine, greedy with
EOS suppressed, exactly 128 new tokens, 2 threads, engines interleaved in one
process with the order rotated each round, medians and ratios printed.

    python bench/compare.py [--model DIR] [--rounds 5] [--json bench/results/latest.json]
    python bench/compare.py --gguf MODEL.gguf --optimum OPTIMUM_EXPORT_DIR   # add the other peers

Peak RSS is measured in a fresh process per engine (``--rss ENGINE``).

    python bench/compare.py --huge-pages-all     # collapse the whole process (genai too) onto huge pages after loading
    python bench/compare.py --processes [--gguf X.gguf --llama-python VENV/bin/python]
        # each engine in a fresh process per round (bench/solo.py), as users run them; order rotated

The chat workload runs genai twice: fresh (a new generator per turn, fed the whole
history) and kept (one generator across turns, as its chat example does).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # this checkout's engine, not an installed one

from peers import GenaiEngine, GenaiKeptChat, HearthEngine, LlamaCppEngine, OptimumEngine, peak_rss_bytes  # noqa: E402

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
    """A growing chat. Hearth reuses its cache; genai runs both ways, labelled:
    ``onnxruntime-genai`` gets a fresh generator per turn fed the whole history,
    ``genai-kept`` keeps one generator across turns and appends only what is new."""
    messages = [{"role": "system", "content": "You are a helpful assistant who answers in detail."}]
    chatters = engines[:2] + [GenaiKeptChat(engines[1], args.context)]  # llama.cpp and optimum left out
    turns = []
    for i, question in enumerate(CHAT_QUESTIONS[: args.chat_turns]):
        messages.append({"role": "user", "content": question})
        ids = codec.encode_chat(messages)
        turn = {"prompt_tokens": len(ids)}
        replies = {}
        for engine in _rotated(chatters, i):
            out, ttft, _ = engine.run(ids, args.chat_tokens, cold=False)
            turn[f"{engine.name}_ttft_ms"] = ttft * 1000
            replies[engine.name] = out
        turn["genai-kept_appended_tokens"] = chatters[2].appended_tokens[-1]
        turn["same_reply_ids"] = {n: r == replies["hearth"] for n, r in replies.items() if n != "hearth"}
        messages.append({"role": "assistant", "content": codec.decode(replies["hearth"])})
        turns.append(turn)
    return {"turns": turns, "genai_modes": {"onnxruntime-genai": "fresh generator per turn, whole history", "genai-kept": "one generator kept across turns, only new tokens appended"}}


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


def _anon_huge_mb() -> float:
    """This process's anonymous memory on huge pages (AnonHugePages in smaps_rollup), MB."""
    try:
        for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
            if line.startswith("AnonHugePages:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_processes(args: argparse.Namespace, folder: Path, codec) -> int:
    """Each engine in a fresh process per round (bench/solo.py), order rotated; medians and ratios."""
    prompts = {label: codec.encode_chat([{"role": "user", "content": q}]) for label, q in (("short", SHORT_QUESTION), ("long", LONG_QUESTION))}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(prompts, f)
    solo = str(Path(__file__).parent / "solo.py")
    common = ["--ids", f.name, "--threads", str(args.threads), "--context", str(args.context),
              "--new-tokens", str(args.new_tokens), "--reps", str(args.reps)]
    commands = {
        "hearth": [sys.executable, solo, "--engine", "hearth", "--model", str(folder)],
        "onnxruntime-genai": [sys.executable, solo, "--engine", "onnxruntime-genai", "--model", str(folder)],
    }
    if args.gguf and args.llama_python:
        commands["llama.cpp"] = [args.llama_python, solo, "--engine", "llama.cpp", "--model", str(args.gguf)]
        if args.llama_no_extra_bufts:
            commands["llama.cpp"].append("--llama-no-extra-bufts")
    names = list(commands)
    samples: dict = {n: [] for n in names}
    try:
        for r in range(args.rounds):
            for name in _rotated(names, r):
                out = subprocess.run(commands[name] + common, capture_output=True, text=True, check=True).stdout
                res = json.loads(out.strip().splitlines()[-1])
                samples[name].append(res)
                print(f"round {r + 1} {name}: " + ", ".join(f"{k} {v['decode_tps']:.1f} tok/s TTFT {v['ttft_ms']:.0f} ms" for k, v in res["prompts"].items())
                      + f", VmHWM {res['vm_hwm_bytes'] / 1e6:.0f} MB", flush=True)
    finally:
        os.unlink(f.name)
    results: dict = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "mode": "separate processes: each engine alone in a fresh process per round, order rotated; one warm-up run per prompt per process",
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, threads {args.threads}",
        "model": str(folder), "gguf": args.gguf, "llama_extra_bufts": not args.llama_no_extra_bufts, "rounds": args.rounds, "reps_per_process": args.reps,
        "new_tokens": args.new_tokens, "context": args.context, "engine_file": sys.modules["engine"].__file__,
    }
    for label in prompts:
        part: dict = {"prompt_tokens": len(prompts[label]), "engines": {}}
        for name in names:
            tps = [s["prompts"][label]["decode_tps"] for s in samples[name]]
            ttft = [s["prompts"][label]["ttft_ms"] for s in samples[name]]
            part["engines"][name] = {
                "decode_tps": statistics.median(tps), "decode_tps_min": min(tps), "decode_tps_max": max(tps),
                "ttft_ms": statistics.median(ttft), "ttft_ms_min": min(ttft), "ttft_ms_max": max(ttft),
                "same_ids_as_hearth": all(s["prompts"][label]["ids"] == samples["hearth"][0]["prompts"][label]["ids"] for s in samples[name]),
                "samples": {"decode_tps": tps, "ttft_ms": ttft},
            }
        h = part["engines"]["hearth"]
        part["ratios_hearth_over"] = {n: {"decode": _ratio(h["decode_tps"], e["decode_tps"]), "ttft": _ratio(h["ttft_ms"], e["ttft_ms"])}
                                      for n, e in part["engines"].items() if n != "hearth"}
        results[label] = part
    results["load_s"] = {n: statistics.median(s["load_s"] for s in samples[n]) for n in names}
    results["vm_hwm_mb"] = {n: statistics.median(s["vm_hwm_bytes"] / 1e6 for s in samples[n]) for n in names}
    report(results)
    print("load s: " + ", ".join(f"{n} {v:.2f}" for n, v in results["load_s"].items())
          + "; VmHWM MB (context %d): " % args.context + ", ".join(f"{n} {v:.0f}" for n, v in results["vm_hwm_mb"].items()))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"\nwritten: {args.json}")
    return 0


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def report(results: dict) -> None:
    print(f"\n{'':14}{'engine':20}{'TTFT ms':>10}{'decode tok/s':>14}{'same ids':>10}")
    for label in ("short", "long"):
        part = results[label]
        for name, r in part["engines"].items():
            print(f"{label + ' (' + str(part['prompt_tokens']) + ')':14}{name:20}{r['ttft_ms']:10.1f}{r['decode_tps']:14.1f}{str(r['same_ids_as_hearth']):>10}")
        h = part["engines"]["hearth"]
        for name, g in part["engines"].items():
            if name != "hearth":
                print(f"{'':14}{'hearth/' + name:20}{_ratio(h['ttft_ms'], g['ttft_ms']):10.2f}x{_ratio(h['decode_tps'], g['decode_tps']):13.2f}x")
    turns = results.get("chat", {}).get("turns")
    if turns:
        print("\nchat turn  prompt tokens  hearth TTFT ms  genai-fresh ms  genai-kept ms  hearth/fresh  hearth/kept")
        for i, t in enumerate(turns, 1):
            h, f, k = t["hearth_ttft_ms"], t["onnxruntime-genai_ttft_ms"], t["genai-kept_ttft_ms"]
            print(f"{i:9}{t['prompt_tokens']:15}{h:16.1f}{f:16.1f}{k:15.1f}{_ratio(h, f):13.2f}x{_ratio(h, k):12.2f}x")
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
    parser.add_argument("--huge-pages-all", action="store_true",
                        help="after every engine has loaded, collapse the whole process onto huge pages (genai's memory too)")
    parser.add_argument("--processes", action="store_true",
                        help="short and long prompts only, each engine in a fresh process per round (bench/solo.py)")
    parser.add_argument("--llama-python", help="with --processes: the python of a venv that has llama-cpp-python")
    parser.add_argument("--reps", type=int, default=1, help="with --processes: timed runs per prompt in each process")
    parser.add_argument("--llama-no-extra-bufts", action="store_true",
                        help="with --processes: llama.cpp without extra buffer types (AMX, repacking); see bench/README.md")
    parser.add_argument("--skip-chat", action="store_true")
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--json", default=str(Path(__file__).parent / "results" / "latest.json"))
    args = parser.parse_args()
    folder = resolve_model(args.model)
    if args.rss:
        print(measure_rss(args, args.rss, folder))
        return 0
    codec = TextCodec(folder)
    if args.processes:
        return run_processes(args, folder, codec)
    engines = _engines(args, folder, args.context)
    results = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, threads {args.threads}",
        "model": str(folder),
        "rounds": args.rounds,
        "new_tokens": args.new_tokens,
        "engine_file": sys.modules["engine"].__file__,
    }
    results["load_order"] = [e.name for e in engines]
    if args.huge_pages_all:
        from engine.runtime.memory import collapse_to_huge_pages

        t0 = time.perf_counter()
        done = collapse_to_huge_pages(deadline_s=30.0)
        results["huge_pages_all"] = {"collapsed_mb": done.bytes / 1e6, "timed_out": done.timed_out, "seconds": time.perf_counter() - t0}
        print(f"collapsed the whole process: {done.bytes / 1e6:.0f} MB onto huge pages in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    results["anon_huge_pages_mb"] = _anon_huge_mb()
    results.update(bench_prompts(args, engines, codec))
    if not args.skip_chat:
        results["chat"] = bench_chat(args, engines, codec)
    del engines
    if not args.skip_rss:
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
