"""Text generation on a loaded model: sampling, stopping, chat, batching, prompts."""
