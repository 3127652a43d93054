"""``hearth-cli serve``: the local OpenAI-compatible server, in the foreground until Ctrl+C."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction, add_model_args) -> None:  # noqa: ANN001
    p = sub.add_parser("serve", help="serve the model over the OpenAI API (continuous batching)")
    p.add_argument("model_pos", nargs="?", metavar="MODEL")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--parallel", type=int, default=4, help="requests decoded together (KV slots, default 4)")
    p.add_argument("--api-key", default=None, help="bearer token clients must send; required off 127.0.0.1")
    p.add_argument("--queue", type=int, default=64, help="requests that may wait for a slot (default 64)")
    p.add_argument("--cors-origin", action="append", default=[], help="allow browser pages from this origin")
    p.add_argument("--speculate", choices=["off", "lookup"], default="off",
                   help="prompt-lookup speculation while only one request is decoding (default off)")
    add_model_args(p)
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from engine.cli.commands import _load
    from engine.serving.server import LocalServer, check_bind

    check_bind(args.host, args.api_key)  # before the model loads: a refusal is instant
    if not 1 <= args.parallel <= 64:
        raise SystemExit("error: --parallel must be between 1 and 64")
    args.slots = args.parallel
    model = _load(args)
    server = LocalServer(model, model.info.name, args.host, args.port, args.api_key,
                         tuple(args.cors_origin), args.queue, lookup=args.speculate == "lookup",
                         embedder_threads=args.threads or 0)
    print(f"serving {model.info.name} at {server.url}/v1 ({model.runner.slots} parallel, "
          f"context {model.runner.context_length}); Ctrl+C stops", flush=True)
    print(embeddings_line(server.embeddings.model_name, server.url), flush=True)
    server.run()
    print("stopped", flush=True)
    return 0


def embeddings_line(embedder: str | None, url: str) -> str:
    """What ``serve`` says about /v1/embeddings, on the line after ``serving ...``."""
    from engine.serving.embeddings import INSTALL_HINT

    if embedder is None:
        return f"no embedder installed: /v1/embeddings answers an error until `{INSTALL_HINT}` installs one"
    return f"embeddings from {embedder} at {url}/v1/embeddings"
