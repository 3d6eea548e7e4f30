"""Dragging with the mouse as a person does, for SortableJS boards and grids (pointer events)."""

from __future__ import annotations

from typing import Any


def drag(
    page: Any, source: Any, target: Any, *, grip: float = 20, aim_y: float | None = None
) -> None:
    """Press `grip` px below the source's top, move in steps to the target (`aim_y` px below its
    top; None: its middle), and before releasing aim again at where the target is NOW: the
    placeholder SortableJS moves along the way makes the rows or columns it passes taller, and a
    drop aimed at the target's old place lands a row off (the calendar did, at some hours)."""
    source = page.locator(source) if isinstance(source, str) else source
    target = page.locator(target) if isinstance(target, str) else target

    def aim() -> tuple[float, float]:
        box = target.bounding_box()
        dy = box["height"] / 2 if aim_y is None else aim_y
        return box["x"] + box["width"] / 2, box["y"] + dy

    src = source.bounding_box()
    x0, y0 = src["x"] + src["width"] / 2, src["y"] + min(grip, src["height"] / 2)
    x1, y1 = aim()
    page.mouse.move(x0, y0)
    page.mouse.down()
    for i in range(1, 21):
        page.mouse.move(x0 + (x1 - x0) * i / 20, y0 + (y1 - y0) * i / 20)
        page.wait_for_timeout(25)
    for _ in range(3):
        x2, y2 = aim()
        page.mouse.move(x2, y2, steps=4)
        page.wait_for_timeout(50)
    page.mouse.up()
