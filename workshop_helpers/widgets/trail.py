"""A widget that follows the audit trail: `TrailWidget()` in a notebook cell.

A table of the KMS calls in the trail, drawn as soon as the widget is made and again each
time it is displayed (so it never appears empty while calls are there): by default the
last `last` calls of the whole trail, or those after `since` (a mark). With:
- **Refresh**: redraw from the trail now;
- **Follow live**: redraw whenever a new KMS call is recorded (through `audit.subscribe`);
- **Only simulated** / **Only failures**: filters;
- **Start from now**: hide what came before (sets a mark).

Every control is a standard button or checkbox, reachable with Tab and worked with Enter or
Space. `close()` stops following.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable

from .. import audit
from ..display.trail import trail_table

WIDGET_CLASS = "kms-trail-widget"


class TrailWidget:
    """Follows `audit.records(since=...)` in a table. Display it as a cell's last value."""

    def __init__(
        self, *, since: int | None = None, last: int | None = 20, follow: bool = False, title: str = "KMS calls (live)"
    ):
        # deferred: start-up (ipywidgets only in a kernel)
        import ipywidgets as w

        self.since = since  # None: the whole trail (its last `last` calls)
        self.last = last
        self.title = title
        self._lock = threading.Lock()
        self._unsubscribe: Callable[[], None] | None = None
        auto = w.Layout(width="auto", margin="0 1em 0 0")
        self.refresh_button = w.Button(
            description="Refresh", icon="refresh", tooltip="Redraw the table from the trail now", layout=auto
        )
        # Checkboxes carry their description inside their <label>; the tooltip adds a title.
        self.follow_box = w.Checkbox(
            value=False,
            description="Follow live",
            indent=False,
            layout=auto,
            tooltip="Redraw the table whenever a new KMS call is recorded",
        )
        self.simulated_box = w.Checkbox(
            value=False,
            description="Only simulated",
            indent=False,
            layout=auto,
            tooltip="Show only the calls the workshop simulated",
        )
        self.failures_box = w.Checkbox(
            value=False,
            description="Only failures",
            indent=False,
            layout=auto,
            tooltip="Show only the calls that failed",
        )
        self.reset_button = w.Button(
            description="Start from now",
            icon="step-forward",
            tooltip="Hide the calls recorded so far",
            layout=w.Layout(width="auto"),
        )
        self.status = w.HTML(value="")
        self.table = w.HTML(value="")
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.reset_button.on_click(lambda _b: self.start_from_now())
        self.follow_box.observe(self._on_follow, names="value")
        self.simulated_box.observe(lambda _c: self.refresh(), names="value")
        self.failures_box.observe(lambda _c: self.refresh(), names="value")
        controls = w.HBox(
            [self.refresh_button, self.follow_box, self.simulated_box, self.failures_box, self.reset_button],
            layout=w.Layout(align_items="center", flex_flow="row wrap"),
        )
        self.box = w.VBox([controls, self.status, self.table])
        self.box.add_class(WIDGET_CLASS)
        self.refresh()
        if follow:
            self.follow_box.value = True

    # --- behaviour -------------------------------------------------------------------------

    def _matching(self) -> list[dict]:
        return audit.records(
            since=self.since,
            simulated=True if self.simulated_box.value else None,
            errors_only=bool(self.failures_box.value),
        )

    def _shown(self, matching: list[dict]) -> list[dict]:
        return matching[-self.last :] if self.last and self.since is None else matching

    def records(self) -> list[dict]:
        """The records the table shows: those matching the filters, the last `last` of them."""
        return self._shown(self._matching())

    def refresh(self) -> int:
        """Redraw; returns how many rows are shown."""
        with self._lock:
            matching = self._matching()
            records = self._shown(matching)
            self.table.value = trail_table(records, title=self.title).html()
            following = "following new calls" if self.follow_box.value else "press Refresh for new calls"
            scope = f" (the last {len(records)} of {len(matching)})" if len(records) < len(matching) else ""
            self.status.value = f"<span role='status'>{len(records)} call(s) shown{scope}; {following}.</span>"
            return len(records)

    def start_from_now(self) -> None:
        self.since = audit.mark()
        self.refresh()

    def _on_follow(self, change) -> None:
        if change["new"] and self._unsubscribe is None:
            ref = weakref.ref(self)

            def listener(_record, ref=ref):
                widget = ref()
                if widget is not None:
                    widget.refresh()

            self._unsubscribe = audit.subscribe(listener)
        elif not change["new"] and self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.refresh()

    def close(self) -> None:
        """Stop following and close the widgets."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.box.close()

    # --- display ---------------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs):
        self.refresh()  # what is in the trail now, whenever the widget is shown
        bundle = self.box._repr_mimebundle_(**kwargs)
        if isinstance(bundle, tuple):
            bundle = bundle[0]
        bundle = dict(bundle or {})
        # A stable text form (the widget's own repr would hold the table's varying HTML).
        bundle["text/plain"] = "Trail widget: Refresh, Follow live, Only simulated, Only failures, Start from now"
        return bundle

    def __repr__(self) -> str:
        return f"TrailWidget(since={self.since}, follow={self.follow_box.value})"


def follow_trail(**kwargs) -> TrailWidget:
    """A TrailWidget that follows new calls live."""
    kwargs.setdefault("follow", True)
    return TrailWidget(**kwargs)
