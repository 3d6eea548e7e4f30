"""Compile the .po catalogues to .mo with polib (no GNU gettext needed on the machine)."""

from __future__ import annotations

from pathlib import Path

import polib


def main() -> None:
    root = Path(__file__).resolve().parent.parent / "locale"
    for po_path in root.glob("*/LC_MESSAGES/*.po"):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        polib.pofile(str(po_path)).save_as_mofile(str(mo_path))


if __name__ == "__main__":
    main()
