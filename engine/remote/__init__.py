"""Remote backends: chat with models on OpenAI-compatible servers (vLLM, NIM, TGI, Ollama, llama.cpp, Hearth).

A layer beside ``generation``: it speaks HTTP, never imports onnxruntime or numpy,
and knows nothing of local models. The public pieces:

- ``providers``: ``Provider``, ``PRESETS``, and the providers file (``load_providers``,
  ``add_provider``, ``remove_provider``, ``find_provider``); keys are never in it.
- ``keys``: ``KeyStore``, keys in the OS keyring or for the session only.
- ``backend``: ``RemoteBackend``, the same interface as the local ``EngineBackend``.
- ``errors``: ``RemoteError`` and its subclasses, each with a message to show.
- ``client``, ``request``, ``stream``, ``sse``: the HTTP client, request bodies,
  the event stream, and the SSE decoder underneath.
"""
