"""``hearth-cli`` and remote servers: ``generate``/``chat --remote NAME`` or ``--base-url URL``,
and ``remote add/list/remove/models`` for the providers file the app reads too.

The key comes from ``--api-key`` (visible to other users in ``ps``), else the
``HEARTH_API_KEY`` environment variable, else the keyring entry of ``--remote NAME``.
No local model is loaded on these paths. Every failure leaves as one ``error:``
line on stderr and a non-zero exit (``main`` prints ``EngineError``; anything
unexpected is turned into a ``RemoteError`` here so no traceback shows).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from engine.cli.repl import user_lines
from engine.core.errors import EngineError
from engine.core.events import GenerationEvent
from engine.remote import providers as pv
from engine.remote.errors import RemoteError, RemoteUnsupportedError
from engine.remote.keys import KeyStore  # imports keyring only when a key is used

if TYPE_CHECKING:
    from engine.remote.backend import RemoteBackend

KEY_ENV = "HEARTH_API_KEY"


def add_remote_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("remote server (no local model is loaded)")
    group.add_argument("--remote", metavar="NAME", help="a provider added with 'hearth-cli remote add'")
    group.add_argument("--base-url", metavar="URL", help="an OpenAI-compatible server, e.g. http://localhost:8000/v1")
    group.add_argument("--api-key", metavar="KEY", help=f"the server's key (prefer the {KEY_ENV} variable: "
                                                        "a key on the command line shows in ps)")
    group.add_argument("--kind", default="openai", choices=list(pv.PRESETS),
                       help="with --base-url: the kind of server, which decides the sampling fields sent")


def wants_remote(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "remote", None) or getattr(args, "base_url", None))


def _guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Unexpected exceptions become a ``RemoteError`` (one line from ``main``), never a traceback."""

    def wrapper(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except (EngineError, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            raise RemoteError(f"unexpected failure talking to the server: {type(exc).__name__}: {exc}") from None

    return wrapper


def open_backend(args: argparse.Namespace) -> RemoteBackend:
    """The backend ``--remote``/``--base-url`` name, with ``--model`` (or the first listed model) selected."""
    from engine.remote.backend import RemoteBackend  # httpx loads only on remote paths

    if args.remote and args.base_url:
        raise RemoteError("Give --remote NAME or --base-url URL, not both.")
    key = args.api_key or os.environ.get(KEY_ENV) or None
    if args.remote:
        provider = pv.find_provider(args.remote)
        key = key or KeyStore().get(provider.name)
    else:
        provider = pv.Provider(name="command line", base_url=args.base_url, kind=args.kind)
    backend = RemoteBackend(provider, key)
    model = args.model or provider.model
    if not model:
        listed = backend.list_models()
        if not listed:
            raise RemoteError(f"{provider.host} lists no models; name one with --model.")
        model = listed[0].id
    backend.load(model)
    if getattr(args, "speculate", "off") != "off":
        backend.set_speculation(args.speculate)
    return backend


def _print_stream(events: Iterator[GenerationEvent], reply: list[str]) -> GenerationEvent:
    from engine.cli.commands import stats_line  # the same line as local replies (tests pin its format)

    last = None
    for event in events:
        for notice in event.notices:
            print(f"notice: {notice}", file=sys.stderr, flush=True)
        sys.stdout.write(event.text)
        sys.stdout.flush()
        reply.append(event.text)
        last = event
    sys.stdout.write("\n")
    assert last is not None
    print(stats_line(last), file=sys.stderr)
    return last


@_guarded
def generate(args: argparse.Namespace) -> int:
    if args.raw:
        raise RemoteUnsupportedError("--raw continues text with a local model's tokenizer; remote servers take "
                                     "chat messages. Leave out --raw.")
    backend = open_backend(args)
    prompt = args.prompt if args.prompt is not None else sys.stdin.read()
    messages = [{"role": "system", "content": args.system}] if args.system else []
    messages.append({"role": "user", "content": prompt})
    try:
        last = _print_stream(backend.stream(messages, _params(args), args.overflow, threading.Event(),
                                            lambda _: None), [])
    finally:
        backend.close()
    return 1 if last.finish_reason == "error" else 0


@_guarded
def chat(args: argparse.Namespace) -> int:
    backend = open_backend(args)
    messages = [{"role": "system", "content": args.system}] if args.system else []
    print(f"Hearth chat with {backend.model.id if backend.model else '?'} on {backend.device}. /exit quits.",
          file=sys.stderr)
    for line in user_lines():
        messages.append({"role": "user", "content": line})
        cancel, reply = threading.Event(), []
        try:
            _print_stream(backend.stream(messages, _params(args), args.overflow, cancel, lambda _: None), reply)
        except KeyboardInterrupt:
            cancel.set()
            print("\n[stopped]", file=sys.stderr)
        except EngineError as exc:  # the request was refused: say so and let the user go on
            print(f"error: {exc}", file=sys.stderr)
            messages.pop()
            continue
        messages.append({"role": "assistant", "content": "".join(reply)})  # a partial reply is kept too
    return 0


def _params(args: argparse.Namespace):
    from engine.cli.commands import _sampling

    return _sampling(args)


# -- hearth-cli remote ... --------------------------------------------------------------------
def register(sub: argparse._SubParsersAction) -> None:
    remote = sub.add_parser("remote", help="remote OpenAI-compatible servers (providers)")
    rsub = remote.add_subparsers(dest="remote_command", required=True)
    p = rsub.add_parser("add", help="add a provider (the key goes to the OS keyring)")
    p.add_argument("name")
    p.add_argument("--kind", default="openai", choices=list(pv.PRESETS))
    p.add_argument("--base-url", help="default: the kind's usual local address")
    p.add_argument("--model", default="", help="the model to use first (default: the server's first)")
    p.add_argument("--timeout", type=float, default=120.0, help="longest silence between chunks, in seconds")
    p.add_argument("--ca-file", default="", help="a CA bundle for a self-signed certificate")
    p.add_argument("--with-key", action="store_true",
                   help=f"store a key in the OS keyring: from {KEY_ENV}, or typed at a hidden prompt")
    p.add_argument("--replace", action="store_true", help="overwrite a provider of the same name")
    p.set_defaults(func=_guarded(cmd_add))
    p = rsub.add_parser("list", help="list providers")
    p.set_defaults(func=_guarded(cmd_list))
    p = rsub.add_parser("remove", help="remove a provider and its key")
    p.add_argument("name")
    p.set_defaults(func=_guarded(cmd_remove))
    p = rsub.add_parser("models", help="list a server's models (GET /models)")
    p.add_argument("name", nargs="?", help="a provider name (or use --base-url)")
    p.add_argument("--base-url", default=None)
    p.add_argument("--api-key", default=None)
    p.set_defaults(func=_guarded(cmd_models))


def cmd_add(args: argparse.Namespace) -> int:
    base_url = args.base_url or pv.PRESETS[args.kind].base_url
    if not base_url:
        raise RemoteError(f"--kind {args.kind} has no usual address: give --base-url.")
    provider = pv.Provider(args.name, base_url, args.kind, args.model, args.timeout, args.ca_file)
    key = None
    if args.with_key:
        key = os.environ.get(KEY_ENV) or (getpass.getpass("API key: ") if sys.stdin.isatty() else "")
        if not key:
            raise RemoteError(f"--with-key found no key: set {KEY_ENV} or run in a terminal to type it.")
        store = KeyStore()
        if not store.persistent:
            raise RemoteError(f"{store.notice} The CLI cannot keep a session: pass the key in {KEY_ENV} each time.")
    pv.add_provider(provider, replace=args.replace)
    if key:
        KeyStore().set(provider.name, key)
    print(f"added {provider.name}: {provider.base_url} ({pv.PRESETS[provider.kind].label})"
          + ("; key stored in the OS keyring" if key else ""))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    providers = pv.load_providers()
    if not providers:
        print("no remote providers (add one with: hearth-cli remote add NAME --kind vllm)")
    for p in providers:
        print(f"{p.name}  {p.base_url}  {p.kind}" + (f"  model {p.model}" if p.model else ""))
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    pv.remove_provider(args.name)
    KeyStore().delete(args.name)
    print(f"removed {args.name}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from engine.remote.backend import RemoteBackend

    if not (args.name or args.base_url):
        raise RemoteError("Name a provider or give --base-url.")
    key = args.api_key or os.environ.get(KEY_ENV) or None
    provider = pv.find_provider(args.name) if args.name else pv.Provider("command line", args.base_url)
    key = key or (KeyStore().get(provider.name) if args.name else None)
    backend = RemoteBackend(provider, key)
    try:
        for model in backend.list_models():
            print(model.id + (f"  ctx {model.context_length}" if model.context_length else ""))
    finally:
        backend.close()
    return 0
