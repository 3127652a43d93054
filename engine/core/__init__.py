"""The shared vocabulary every layer uses: errors, events, paths, config files."""
