"""The README's table of what Hearth imports from GGUF files, rendered from the code.

``python -m engine.convert.support_table`` prints it; tests/engine/test_gguf_types.py
checks that README.md holds exactly this text between the markers.
"""

from __future__ import annotations

from engine.convert.exact_graph import ROTARY_PERMUTED, type_route
from engine.convert.gguf_source import SUPPORTED_ARCHITECTURES

BEGIN, END = "<!-- gguf-support:begin -->", "<!-- gguf-support:end -->"
# The types people's files hold, in the order a reader looks for them; anything
# else a file may hold is re-quantized the same way as the last rows.
SHOWN_TYPES = (
    "F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K", "Q5_1", "Q5_0", "Q4_K", "Q4_1", "Q4_0",
    "Q3_K", "Q2_K", "IQ4_XS", "IQ4_NL", "IQ3_XXS", "IQ2_XS",
)  # fmt: skip


def render() -> str:
    """The markdown between ``BEGIN`` and ``END`` (markers included)."""
    archs = ", ".join(f"`{a}`" for a in sorted(SUPPORTED_ARCHITECTURES))
    lines = [
        BEGIN,
        f"GGUF architectures: {archs}. "
        f"q/k rows un-permuted for: {', '.join(f'`{a}`' for a in sorted(ROTARY_PERMUTED))}.",
        "",
        "| GGUF type | with `--precision int4` on CPU | exact |",
        "|---|---|---|",
    ]
    for t in SHOWN_TYPES:
        route = type_route(t)
        lines.append(f"| {t} | {route or 're-quantized to 4-bit blocks of 32 by the builder'} | {'yes' if route else 'no'} |")
    lines.append(END)
    return "\n".join(lines)


if __name__ == "__main__":
    print(render())
