"""One-line progress reports on stderr for the command line.

On a terminal a report is a single line redrawn in place with a carriage
return, so a long run leaves one line instead of hundreds. Whether it is shown
is decided once: ``--progress`` forces it, ``--quiet`` silences it, and
otherwise it is shown only when the stream is a terminal. Shown elsewhere (a log
file, a pipe), :class:`EpochProgress` writes one plain line per epoch instead:
redrawn frames there would leave a viewer only the last one and fill the file
with carriage returns. ``--verbose`` asks for those lines on a terminal too.

:class:`EpochProgress` is an estimator callback (``callback(model, history)``,
called after every epoch). An epoch of a large data set can take minutes and
the callback only runs between epochs, so a background thread redraws the line
every ``interval`` seconds with the elapsed time and the ETA; the C kernel
releases the GIL, so that thread runs while an epoch trains.
:class:`ConvertProgress` is the ``progress(rows, nonzeros)`` callback of
``rapidfm.io.convert_to_cache``.
"""

import sys
import threading
import time


def _is_terminal(stream):
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):  # a closed or detached stream
        return False


def progress_enabled(stream, force=False, quiet=False):
    """quiet wins over force; without either, only a terminal gets progress lines."""
    if quiet:
        return False
    return True if force else _is_terminal(stream)


def format_duration(seconds):
    """'0:07', '12:34', '3:02:01' (h:mm:ss once past an hour)."""
    if seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = int(round(max(seconds, 0.0)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class _Line:
    """A status line redrawn in place: pads with spaces over a longer previous frame
    (works on terminals and in files alike, unlike an ANSI clear-line code)."""

    def __init__(self, stream):
        self.stream = stream
        self.width = 0
        self.lock = threading.Lock()
        self.drawn = False

    def draw(self, text):
        with self.lock:
            pad = max(self.width - len(text), 0)
            self.stream.write("\r" + text + " " * pad)
            self.stream.flush()
            self.width = len(text)
            self.drawn = True

    def finish(self):
        with self.lock:
            if self.drawn:
                self.stream.write("\n")
                self.stream.flush()
                self.drawn = False


class EpochProgress:
    """Estimator callback showing ``epoch i/n, loss, rows/s, elapsed, ETA`` on one line.

    Use as a context manager around fit (it starts the redraw thread and ends the
    line); when disabled every method does nothing and fit runs untouched.
    lines: True writes one line per finished epoch (no redrawing, no thread);
    None (default) does so where the stream is not a terminal.
    """

    def __init__(self, n_epochs, loss_name, report_loss, stream=None, enabled=True,
                 interval=0.5, lines=None):
        self.n_epochs = int(n_epochs)
        self.loss_name = loss_name
        self.report_loss = report_loss  # maps history's train_loss to the reported number
        self.stream = sys.stderr if stream is None else stream
        self.enabled = bool(enabled)
        self.interval = float(interval)
        self.lines = not _is_terminal(self.stream) if lines is None else bool(lines)
        self._line = _Line(self.stream)
        self._done = 0  # epochs finished in this fit
        self._start = self._epoch_start = None
        self._drawn_at = -float("inf")
        self._last = ""  # the numbers of the last finished epoch
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        if self.enabled:
            self._start = self._epoch_start = time.perf_counter()
            if self.lines:
                return self
            self._redraw()
            self._thread = threading.Thread(target=self._tick, name="rapidfm-progress",
                                            daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        if self.enabled and not self.lines:
            self._redraw(final=True)
            self._line.finish()
        return False

    def __call__(self, model, history):
        if not self.enabled:
            return False
        record = history[-1]
        self._done += 1
        self._epoch_start = time.perf_counter()
        parts = [f"train {self.loss_name} {self.report_loss(record['train_loss']):.4f}"]
        if record.get("validation_loss") is not None:
            parts.append(f"validation {self.loss_name} {record['validation_loss']:.4f}")
        parts.append(f"{record['rows_per_second']:,.0f} rows/s")
        self._last = "  ".join(parts)
        if self.lines:
            self.stream.write(self._text(self._epoch_start, self._done, final=False) + "\n")
            self.stream.flush()
            return False
        # short epochs would otherwise draw hundreds of frames a second; the
        # ticker and the final frame show the rest
        if self._epoch_start - self._drawn_at >= self.interval:
            self._redraw()
        return False  # never asks fit to stop

    def _tick(self):
        while not self._stop.wait(self.interval):
            self._redraw()

    def _redraw(self, final=False):
        now = time.perf_counter()
        # while training: the epoch under way; at the end: the epochs done (early
        # stopping may end before n_epochs)
        shown = self._done if final else min(self._done + 1, self.n_epochs)
        text = self._text(now, shown, final)
        self._drawn_at = now
        self._line.draw(text)

    def _text(self, now, shown, final):
        elapsed = now - self._start
        text = f"epoch {shown}/{self.n_epochs}"
        if self._last:
            text += f"  {self._last}"
        text += f"  elapsed {format_duration(elapsed)}"
        if self._done:
            per_epoch = (self._epoch_start - self._start) / self._done
            in_epoch = now - self._epoch_start
            remaining = max(per_epoch * (self.n_epochs - self._done) - in_epoch, 0.0)
            if self._done < self.n_epochs and not final:
                text += f"  ETA {format_duration(remaining)}"
        return text


class ConvertProgress:
    """``progress(rows, nonzeros)`` callback of convert_to_cache: rows, nonzeros, rows/s."""

    def __init__(self, name, stream=None, enabled=True):
        self.name = name
        self.stream = sys.stderr if stream is None else stream
        self.enabled = bool(enabled)
        self._line = _Line(self.stream)
        self._start = time.perf_counter()

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self._line.finish()
        return False

    def __call__(self, rows, nonzeros):
        if not self.enabled:
            return
        seconds = time.perf_counter() - self._start
        rate = rows / seconds if seconds > 0 else 0.0
        self._line.draw(f"converting {self.name}: {rows:,} rows, {nonzeros:,} nonzeros, "
                        f"{rate:,.0f} rows/s, elapsed {format_duration(seconds)}")
