"""A ``Scene`` as SVG text: rectangles and monospaced text, nothing else."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from engine.report.scene import Rect, Scene


def to_svg(scene: Scene) -> str:
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{scene.width}" height="{scene.height}" '
           f'viewBox="0 0 {scene.width} {scene.height}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace">',
           f'<rect x="0" y="0" width="{scene.width}" height="{scene.height}" fill="{scene.background}"/>']
    for shape in scene.shapes:
        if isinstance(shape, Rect):
            out.append(f'<rect x="{shape.x:.1f}" y="{shape.y:.1f}" width="{max(shape.w, 0):.1f}" '
                       f'height="{max(shape.h, 0):.1f}" fill="{shape.fill}"/>')
        else:
            out.append(f'<text x="{shape.x:.1f}" y="{shape.y:.1f}" font-size="{shape.size:g}" fill="{shape.fill}" '
                       f'text-anchor={quoteattr(shape.anchor)} xml:space="preserve">{escape(shape.text)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
