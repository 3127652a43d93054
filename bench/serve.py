"""Serving under load: Hearth's server against llama-cpp-python's, with the official openai client.

    .venv/bin/python bench/serve.py [--rounds 5] [--llama-python /path/to/venv/bin/python]

Each round runs, in rotated order, for 1, 2, 4 and 8 concurrent clients:
- ``hearth``: ``hearth-cli serve --parallel 8`` answering the clients at once;
- ``hearth-serial``: the same server answering the same requests one at a time;
- ``llama``: ``python -m llama_cpp.server`` on the default model's GGUF (when
  ``--llama-python`` points at a Python with llama-cpp-python installed).
Every request is greedy (temperature 0) with ``max_tokens`` 128 on a short prompt;
both servers use 2 threads. Figures per configuration, medians over rounds:
aggregate tok/s (all completion tokens / wall time), per-stream decode tok/s, and
p50/p95 time to first token. Results go to bench/results/<date>-serve.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from openai import OpenAI

ROOT = Path(__file__).resolve().parent.parent
PROMPTS = [
    "Tell me about the history of tea.", "Explain how a bicycle works.", "Describe a walk in the forest.",
    "Why do cats purr?", "How are mountains formed?", "Write about the sea at night.",
    "What makes bread rise?", "Describe your favourite city.",
]  # fmt: skip
MAX_TOKENS = 128
CLIENTS = (1, 2, 4, 8)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log(name: str):
    # A file, not a pipe: nobody reads a pipe while the bench runs, and a server that
    # logs a lot (llama.cpp does) would block once the pipe's buffer is full.
    return open(ROOT / "bench" / "results" / f"serve-{name}.log.tmp", "w")


def _wait(port: int, proc: subprocess.Popen, path: str) -> None:
    import http.client

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the server exited; see bench/results/serve-*.log.tmp")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError("server did not start")


def start_hearth(model: Path, *extra: str, log: str = "hearth") -> tuple[subprocess.Popen, int, str]:
    port = _port()
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", str(model), "--port", str(port),
                             "--parallel", "8", "--threads", "2", "--context", "2048", *extra],
                            stdout=_log(log), stderr=subprocess.STDOUT, cwd=ROOT)
    _wait(port, proc, "/health")
    return proc, port, "SmolLM2-135M-Instruct"


# A GGML_NATIVE build picks AMX on this VM, whose first tile instruction dies with SIGILL:
# start llama_cpp.server with extra buffer types off (as bench/peers.py does for llama.cpp).
_LLAMA_NO_EXTRA_BUFTS = (
    "import runpy, llama_cpp.llama_cpp as lib\n"
    "defaults = lib.llama_model_default_params\n"
    "def no_extra():\n    p = defaults(); p.use_extra_bufts = False; return p\n"
    "lib.llama_model_default_params = no_extra\n"
    "runpy.run_module('llama_cpp.server', run_name='__main__', alter_sys=True)\n"
)


def start_llama(python: str, gguf: Path, no_extra_bufts: bool) -> tuple[subprocess.Popen, int, str]:
    port = _port()
    launcher = ["-c", _LLAMA_NO_EXTRA_BUFTS] if no_extra_bufts else ["-m", "llama_cpp.server"]
    proc = subprocess.Popen([python, *launcher, "--model", str(gguf), "--host", "127.0.0.1",
                             "--port", str(port), "--n_threads", "2", "--n_threads_batch", "2", "--n_ctx", "2048"],
                            stdout=_log("llama"), stderr=subprocess.STDOUT)
    _wait(port, proc, "/v1/models")
    return proc, port, str(gguf)


def one_request(client: OpenAI, model: str, prompt: str) -> dict:
    start = time.perf_counter()
    first = last = None
    tokens = 0
    stream = client.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}],
                                            max_tokens=MAX_TOKENS, temperature=0, stream=True,
                                            stream_options={"include_usage": True})
    chunks = 0
    for chunk in stream:
        now = time.perf_counter()
        if chunk.choices and chunk.choices[0].delta.content:
            first = first or now
            last = now
            chunks += 1
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
    # llama-cpp-python's server ignores include_usage; it streams one token per chunk.
    tokens = tokens or chunks
    return {"ttft": (first or time.perf_counter()) - start, "first": first, "last": last, "tokens": tokens}


def _prompt(i: int, round_: int, clients: int) -> str:
    # A new wording each time, so no server answers from a whole cached prompt.
    return f"(Request {round_}.{clients}.{i}) {PROMPTS[i % len(PROMPTS)]}"


def load(port: int, model: str, clients: int, serial: bool, round_: int) -> dict:
    client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="bench", max_retries=0, timeout=600)
    results: list[dict] = []
    start = time.perf_counter()
    if serial:
        for i in range(clients):
            results.append(one_request(client, model, _prompt(i, round_, clients)))
    else:
        def run(i: int) -> None:
            results.append(one_request(client, model, _prompt(i, round_, clients)))

        threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    wall = time.perf_counter() - start
    tokens = sum(max(r["tokens"], 0) for r in results)
    streams = [(r["tokens"] - 1) / (r["last"] - r["first"]) for r in results
               if r["tokens"] > 1 and r["last"] and r["first"] and r["last"] > r["first"]]
    ttfts = sorted(r["ttft"] for r in results)
    return {"aggregate_tps": tokens / wall, "stream_tps": statistics.median(streams) if streams else None,
            "ttft_p50": statistics.median(ttfts), "ttft_p95": ttfts[min(len(ttfts) - 1, int(0.95 * len(ttfts)))],
            "tokens": [r["tokens"] for r in results]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--model", default=str(ROOT / ".hearth-dev/test-home/data/models/SmolLM2-135M-Instruct"))
    parser.add_argument("--gguf", default=None, help="the GGUF for llama.cpp (default: the test home's download)")
    parser.add_argument("--llama-python", default=None, help="a Python with llama-cpp-python[server] installed")
    parser.add_argument("--llama-no-extra-bufts", action="store_true",
                        help="turn llama.cpp's extra buffer types (AMX) off, for CPUs that fault on them")
    args = parser.parse_args()
    gguf = Path(args.gguf) if args.gguf else next((ROOT / ".hearth-dev/test-home/cache/downloads").glob("*.gguf"))
    servers = {"hearth": start_hearth(Path(args.model))}
    if args.llama_python:
        servers["llama"] = start_llama(args.llama_python, gguf, args.llama_no_extra_bufts)
    engines = ["hearth", "hearth-serial", *(["llama"] if "llama" in servers else [])]
    runs: dict[str, list[dict]] = {}
    try:
        for round_ in range(args.rounds):
            order = engines[round_ % len(engines):] + engines[: round_ % len(engines)]
            for clients in CLIENTS:
                for engine in order:
                    proc, port, name = servers["hearth" if engine.startswith("hearth") else engine]
                    result = load(port, name, clients, engine == "hearth-serial", round_)
                    runs.setdefault(f"{engine}@{clients}", []).append(result)
                    print(f"round {round_ + 1} {engine:14} {clients} clients: {result['aggregate_tps']:6.1f} tok/s "
                          f"agg, TTFT p95 {result['ttft_p95'] * 1000:5.0f} ms", flush=True)
    finally:
        for proc, _, _ in servers.values():
            proc.terminate()
            proc.wait(30)
    summary = {key: {field: statistics.median(r[field] for r in rs if r[field] is not None)
                     for field in ("aggregate_tps", "stream_tps", "ttft_p50", "ttft_p95")}
               for key, rs in runs.items()}
    for engine in engines:
        one = summary[f"{engine}@1"]["aggregate_tps"]
        for clients in CLIENTS:
            summary[f"{engine}@{clients}"]["scaling_vs_1"] = summary[f"{engine}@{clients}"]["aggregate_tps"] / one
    if "llama" in servers:
        for clients in CLIENTS:
            summary[f"hearth@{clients}"]["vs_llama"] = (summary[f"hearth@{clients}"]["aggregate_tps"]
                                                        / summary[f"llama@{clients}"]["aggregate_tps"])
    out = ROOT / "bench" / "results" / f"{dt.date.today().isoformat()}-serve.json"
    out.write_text(json.dumps({"rounds": args.rounds, "max_tokens": MAX_TOKENS, "threads": 2,
                               "summary": summary, "runs": runs}, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
