"""phonenumbers' geocoder without its 100 MB.

`phonenumbers.geodata` is one dictionary of every prefix of the world in every language: importing
it costs ~0.4 s of CPU and ~97 MB in every process that imports `phonenumbers.geocoder` — every
web process and every worker (the URLconf imports the contacts API, which shows a phone's
region), and a restarted worker pays it again before it can take over a dead one's runs
(RELIABILITY row 13). Its data is split over ~30 modules (`data0` … `dataN`) in ascending key
order; this package stand-in loads the one a looked-up prefix falls in, on the first look-up
there. The geocoder's own code (prefix walk, language and country fall-backs) is unchanged.

`install()` must run before anything imports `phonenumbers.geocoder` (kernel.phoneinfo does it);
when the real package is already imported, or its layout is not the one read here, it does
nothing and the geocoder loads everything as before.
"""

from __future__ import annotations

import bisect
import importlib
import importlib.machinery
import importlib.util
import re
import sys
import threading
import types
from collections.abc import Iterator, Mapping
from pathlib import Path

PACKAGE = "phonenumbers.geodata"
_CHUNK_RE = re.compile(r"^from \.(data\d+) import data$", re.M)
_LONGEST_RE = re.compile(r"^GEOCODE_LONGEST_PREFIX = (\d+)$", re.M)
_FIRST_KEY_RE = re.compile(r"^ '(\d+)':", re.M)
_HEAD = 8192  # bytes read of each chunk to find its first key (the licence header is ~1 KB)


class LazyPrefixes(Mapping[str, dict[str, str]]):
    """GEOCODE_DATA's mapping (prefix → {language: description}), one chunk module at a time."""

    def __init__(self, chunks: list[str], starts: list[str]) -> None:
        self._chunks = chunks
        self._starts = starts  # the first key of each chunk, ascending
        self._loaded: dict[int, dict[str, dict[str, str]]] = {}
        self._lock = threading.Lock()

    def _chunk(self, index: int) -> dict[str, dict[str, str]]:
        data = self._loaded.get(index)
        if data is None:
            with self._lock:  # two threads on one card: one import
                data = self._loaded.get(index)
                if data is None:
                    module = importlib.import_module(f"{PACKAGE}.{self._chunks[index]}")
                    data = self._loaded[index] = module.data
        return data

    def _of(self, key: object) -> dict[str, dict[str, str]]:
        if not isinstance(key, str):
            return {}
        index = bisect.bisect_right(self._starts, key) - 1
        return self._chunk(index) if index >= 0 else {}

    def __contains__(self, key: object) -> bool:
        return key in self._of(key)

    def __getitem__(self, key: str) -> dict[str, str]:
        return self._of(key)[key]

    def __iter__(self) -> Iterator[str]:  # the whole world: only a test walks it
        for index in range(len(self._chunks)):
            yield from self._chunk(index)

    def __len__(self) -> int:
        return sum(len(self._chunk(i)) for i in range(len(self._chunks)))

    @property
    def loaded(self) -> int:
        """Chunks in memory (the figure a test checks stays small)."""
        return len(self._loaded)


def _layout(root: Path) -> tuple[list[str], list[str], int] | None:
    """(chunk module names, their first keys, longest prefix) read from the package's files, or
    None when they do not look as expected (a future phonenumbers): then nothing is replaced."""
    try:
        init = (root / "__init__.py").read_text(encoding="utf-8")
        chunks = _CHUNK_RE.findall(init)
        longest = _LONGEST_RE.search(init)
        starts = []
        for name in chunks:
            with (root / f"{name}.py").open(encoding="utf-8") as fh:
                found = _FIRST_KEY_RE.search(fh.read(_HEAD))
            if found is None:
                return None
            starts.append(found.group(1))
    except OSError:
        return None
    if not chunks or longest is None or starts != sorted(starts):
        return None
    return chunks, starts, int(longest.group(1))


def install() -> bool:
    """Put the lazy stand-in in place of `phonenumbers.geodata`; True when it is (now or
    already) the one in use."""
    current = sys.modules.get(PACKAGE)
    if current is not None:
        return isinstance(getattr(current, "GEOCODE_DATA", None), LazyPrefixes)
    spec = importlib.util.find_spec("phonenumbers")
    if spec is None or not spec.submodule_search_locations:
        return False
    root = Path(next(iter(spec.submodule_search_locations))) / "geodata"
    layout = _layout(root)
    if layout is None:
        return False
    chunks, starts, longest = layout
    module = types.ModuleType(PACKAGE, __doc__)
    module.__path__ = [str(root)]  # submodules (`data7`, `locale`) import from the real files
    module.__spec__ = importlib.machinery.ModuleSpec(PACKAGE, None, is_package=True)
    module.__spec__.submodule_search_locations = [str(root)]
    module.GEOCODE_DATA = LazyPrefixes(chunks, starts)  # type: ignore[attr-defined]
    module.GEOCODE_LONGEST_PREFIX = longest  # type: ignore[attr-defined]
    sys.modules[PACKAGE] = module
    import phonenumbers

    phonenumbers.geodata = module  # type: ignore[attr-defined]  # as the import system would
    return True
