"""How long the GUI thread may wait for Python's GIL while workers run Python."""

from __future__ import annotations

import sys

# Every event Qt gives a widget class written in Python (paint, key, layout, timers) first
# takes the GIL. A worker running Python (pypdf reading pages, a recount) gives it up only
# every switch interval, 5 ms by default, so a burst of such events queued behind one
# another stalled the window for ~100 ms. At 0.5 ms the same burst costs a few ms.
GUI_SWITCH_INTERVAL_S = 0.0005


def favour_the_gui_thread() -> None:
    """Make busy worker threads hand the GIL back to the GUI thread within half a millisecond."""
    sys.setswitchinterval(min(sys.getswitchinterval(), GUI_SWITCH_INTERVAL_S))
