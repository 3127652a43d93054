#!/bin/sh
# Add Hearth to this user's application menu: run it from the unpacked Hearth folder.
#   ./install-desktop-entry.sh            (remove with: rm ~/.local/share/applications/hearth.desktop)
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
apps="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
icons="${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor/256x256/apps"
mkdir -p "$apps" "$icons"
cp "$here/hearth.png" "$icons/hearth.png"
sed "s|^Exec=.*|Exec=\"$here/hearth\"|" "$here/hearth.desktop" > "$apps/hearth.desktop"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$apps" || true
echo "Installed $apps/hearth.desktop (runs $here/hearth)"
