"""Conversion and default-model install: a GGUF or Hugging Face checkpoint into a model folder."""
