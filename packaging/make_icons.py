"""Render assets/icon.svg to the icons the app and the packages use.

    python packaging/make_icons.py

Writes assets/icon-{16..1024}.png (the app's window icon and the Linux icon use
icon-256.png), packaging/linux/hearth.png (256 px), packaging/windows/hearth.ico and
packaging/macos/hearth.icns. Rendering uses Qt's SVG renderer (PySide6, already a
dependency); ICO and ICNS files are written directly: both formats may hold PNG images
as they are, so no imaging library is needed. The outputs are committed; run this
again only when the SVG changes.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SVG = ROOT / "assets" / "icon.svg"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512, 1024)
APP_PNG_SIZES = (16, 32, 48, 64, 128, 256)  # kept in assets/ for QIcon
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
# ICNS element types that hold PNG data, by pixel size.
ICNS_TYPES = ((b"icp4", 16), (b"icp5", 32), (b"icp6", 64), (b"ic07", 128), (b"ic08", 256),
              (b"ic09", 512), (b"ic10", 1024), (b"ic11", 32), (b"ic12", 64), (b"ic13", 256), (b"ic14", 512))


def render(sizes: tuple[int, ...]) -> dict[int, bytes]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])
    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"cannot read {SVG}")
    out: dict[int, bytes] = {}
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        data = QByteArray()
        buf = QBuffer(data)
        buf.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buf, "PNG")
        out[size] = bytes(data.data())
    return out


def ico(pngs: dict[int, bytes]) -> bytes:
    """A Windows .ico whose entries are PNGs (supported since Windows Vista)."""
    header = struct.pack("<HHH", 0, 1, len(ICO_SIZES))
    entries, blobs = b"", b""
    offset = 6 + 16 * len(ICO_SIZES)
    for size in ICO_SIZES:
        data = pngs[size]
        dim = 0 if size >= 256 else size  # 0 means 256
        entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(data), offset + len(blobs))
        blobs += data
    return header + entries + blobs


def icns(pngs: dict[int, bytes]) -> bytes:
    """A macOS .icns whose elements are PNGs."""
    body = b"".join(kind + struct.pack(">I", 8 + len(pngs[size])) + pngs[size] for kind, size in ICNS_TYPES)
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def main() -> int:
    pngs = render(SIZES)
    for size in APP_PNG_SIZES:
        (ROOT / "assets" / f"icon-{size}.png").write_bytes(pngs[size])
    (ROOT / "packaging" / "linux" / "hearth.png").write_bytes(pngs[256])
    (ROOT / "packaging" / "windows" / "hearth.ico").write_bytes(ico(pngs))
    (ROOT / "packaging" / "macos" / "hearth.icns").write_bytes(icns(pngs))
    print("wrote assets/icon-*.png, packaging/linux/hearth.png, packaging/windows/hearth.ico, packaging/macos/hearth.icns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
