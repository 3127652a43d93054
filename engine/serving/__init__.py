"""The local OpenAI-compatible server: HTTP routes, the continuous-batching scheduler, uvicorn."""
