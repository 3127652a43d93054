"""Helpers shared by the engine, app and end-to-end tests."""
