"""Sessions and graphs: find, load and run a model; no text-generation policy."""
