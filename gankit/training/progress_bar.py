"""The training bar's options: tqdm's defaults in a terminal, log lines elsewhere.

In a terminal tqdm redraws one line in place with carriage returns. In a log file,
a pipe or a CI job those carriage returns pile every update onto one enormous
line, written up to ten times a second. There the bar is written as ordinary
lines instead, one when it opens, then at most one every
:data:`LOG_PROGRESS_INTERVAL_S` seconds, then the last one, so that ``tail -f``,
``grep`` and a scheduler's log viewer show the progress as it was.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from tqdm.auto import tqdm

#: seconds between updates of the training bar when stderr is not a terminal (a log
#: file, a pipe, a CI job): a 30-minute run writes about 60 lines there, not 18,000
LOG_PROGRESS_INTERVAL_S = 30.0


def stderr_is_terminal() -> bool:
    """Whether ``sys.stderr``, where the training bar goes, is a terminal.

    False for a stderr that is a file or a pipe, that is None (``pythonw``), that has
    no ``isatty`` (a replacement stream) or that is closed.
    """
    isatty = getattr(sys.stderr, "isatty", None)
    if isatty is None:
        return False
    try:
        return bool(isatty())
    except (OSError, ValueError):  # ValueError: I/O operation on closed file
        return False


class LogLines:
    """A stream for tqdm that turns each in-place redraw into a line of its own.

    tqdm writes every update as ``"\\r" + bar + padding`` and, when the bar closes,
    a final ``"\\n"``. Here an update becomes ``bar + "\\n"`` and that final newline,
    now redundant, is dropped; anything else (``tqdm.write`` messages) passes
    through unchanged. Written for tqdm's status printer, which no tqdm option
    makes line-based.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._after_bar = False

    def write(self, text: str) -> int:
        """Write ``text``, an update of the bar as a line of its own."""
        if text.startswith("\r"):
            line = text.strip()  # the carriage returns and tqdm's padding
            if line:
                self._stream.write(line + "\n")
                self._after_bar = True
        elif text == "\n" and self._after_bar:
            self._after_bar = False  # the bar's own line end: already written
        elif text:
            self._stream.write(text)
            self._after_bar = False
        return len(text)

    def flush(self) -> None:
        """Flush the underlying stream."""
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)  # encoding, fileno, isatty... as the stream has them


def training_bar_options() -> dict[str, Any]:
    """tqdm options for the training bar: none in a terminal, else slow updates as lines.

    ``miniters=1`` turns tqdm's dynamic ``miniters`` off: with it, ``miniters`` grows
    above 1 after an update, and tqdm's monitor thread then writes an extra update
    whenever ``maxinterval`` passes without one, whatever ``mininterval`` says. With
    ``miniters=1`` every step reads the clock and writes once ``mininterval`` has
    passed (``maxinterval`` is then unused). A notebook's widget (chosen by
    ``tqdm.auto``) is not a log: it keeps the defaults.
    """
    if stderr_is_terminal() or any(c.__module__ == "tqdm.notebook" for c in tqdm.__mro__):
        return {}
    return {
        "file": LogLines(sys.stderr),
        "mininterval": LOG_PROGRESS_INTERVAL_S,
        "maxinterval": LOG_PROGRESS_INTERVAL_S,
        "miniters": 1,
    }
