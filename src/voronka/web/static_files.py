"""Static files: WhiteNoise, with the collected files winning over the finders'.

`collectstatic` (run by `voronka serve`) writes each text file with a compressed `.gz` twin
(STORAGES: whitenoise's CompressedStaticFilesStorage); WhiteNoise serves the twin to clients that
accept gzip. With WHITENOISE_USE_FINDERS on, WhiteNoise lets the finders' copies (never
compressed) replace the collected ones; here the collected ones stay, and the finders fill in
only what was not collected (development and tests, where nothing is collected).
"""

from __future__ import annotations

from whitenoise.middleware import WhiteNoiseMiddleware


class CollectedFirstWhiteNoiseMiddleware(WhiteNoiseMiddleware):
    def add_files_from_finders(self) -> None:
        collected = dict(self.files)
        super().add_files_from_finders()
        self.files.update(collected)
