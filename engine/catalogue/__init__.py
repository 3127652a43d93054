"""The model catalogue: curated entries shipped with the app, and verified, resumable downloads from a hub."""
