"""Reading depth-image CSVs: ``depth,col1..col200`` with pixel values 0-255.

The fast path is pandas' C parser in chunks with vectorized checks. When a chunk has a
problem, the lines concerned are re-read in plain Python to name the first bad line and what
is wrong with it, so the error path is slow but precise and the happy path pays nothing.

Accepted transparently: a UTF-8 byte order mark, Windows line endings, empty rows (blank or
only commas) at the end of the file, which are skipped and counted. Everything else that is
not a well-formed row is refused with its line number (the header is line 1).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped]  # pandas ships no types (pandas-stubs is not a dependency)

from depth_images.services import depths, resize

PIXEL_COLUMNS = [f"col{i}" for i in range(1, resize.SOURCE_WIDTH + 1)]
HEADER = ["depth", *PIXEL_COLUMNS]
FIELDS = len(HEADER)
BOM = b"\xef\xbb\xbf"
CHUNK_ROWS = 20_000
# A decimal number in ASCII, as CSV writers print them (Python's float() also takes "1_0" and
# non-ASCII digits); nan and inf are numbers here so that they get their own messages.
NUMBER = re.compile(
    r"^[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|nan|inf|infinity)$", re.IGNORECASE
)


class DepthCSVError(ValueError):
    """A problem with an uploaded CSV, shown to the user as is."""

    def __init__(self, message: str, line: int | None = None):
        self.line = line
        super().__init__(f"line {line}: {message}" if line is not None else message)


@dataclass(frozen=True)
class DepthTable:
    """A parsed, validated, resized file: one uint8 row per depth key, in file order."""

    keys: np.ndarray  # int64 depth keys (see depths.py)
    rows: np.ndarray  # uint8 (n, resize.TARGET_WIDTH)
    skipped_empty_rows: int


def read_depth_csv(
    handle: BinaryIO,
    *,
    chunk_rows: int = CHUNK_ROWS,
    progress: Callable[[int], None] | None = None,
    sink: Callable[[np.ndarray, np.ndarray], None] | None = None,
) -> DepthTable:
    """Parse, validate and resize a whole file; raise DepthCSVError naming the first problem.

    ``handle`` is a seekable binary file. ``progress`` is called with the byte offset reached
    after each chunk. ``sink`` receives each chunk's (keys, rows) once they are valid, so a
    caller can store them while the next chunk is parsed; a later error still raises, so the
    caller's transaction must cover the whole read.
    """
    read_header(handle)
    data_start = handle.tell()
    keys: list[npt.NDArray[np.int64]] = []
    rows: list[npt.NDArray[np.uint8]] = []
    next_line = 2
    trailing_empty: list[int] = []  # line numbers of the empty rows seen since the last data row
    for values in _chunks(handle, data_start, chunk_rows):
        # Only a row without a depth can be empty; test the rest of the row for those alone.
        empty = np.isnan(values[:, 0])
        candidates = np.flatnonzero(empty)
        empty[candidates] = np.isnan(values[candidates]).all(axis=1)
        data_rows = np.flatnonzero(~empty)
        if data_rows.size and trailing_empty:
            raise _empty_row_error(trailing_empty[0])
        if data_rows.size:
            last = data_rows[-1]
            inner_empty = np.flatnonzero(empty[:last])
            if inner_empty.size:
                raise _empty_row_error(next_line + int(inner_empty[0]))
            chunk_keys, chunk_rows_resized = _validated(
                handle, data_start, values[: last + 1], next_line
            )
            _refuse_new_duplicates(keys, chunk_keys)
            keys.append(chunk_keys)
            rows.append(chunk_rows_resized)
            if sink is not None:
                sink(chunk_keys, chunk_rows_resized)
        trailing_empty.extend(next_line + int(i) for i in np.flatnonzero(empty))
        next_line += len(values)
        if progress is not None:
            progress(handle.tell())
    if not keys:
        raise DepthCSVError("the file has a header but no data rows")
    return DepthTable(np.concatenate(keys), np.concatenate(rows), len(trailing_empty))


def read_header(handle: BinaryIO) -> None:
    """Check the first line; leave ``handle`` at the first data line."""
    first = handle.readline()
    if first.startswith(BOM):
        first = first[len(BOM) :]
    if not first.strip() and not handle.read(1):
        raise DepthCSVError("the file is empty")
    try:
        names = [name.strip() for name in first.decode("utf-8").rstrip("\r\n").split(",")]
    except UnicodeDecodeError:
        raise DepthCSVError("the header is not UTF-8 text", line=1) from None
    if names == HEADER:
        return
    if len(names) != FIELDS:
        raise DepthCSVError(
            f"the header must be depth,col1..col{resize.SOURCE_WIDTH} "
            f"({FIELDS} columns); found {len(names)} columns",
            line=1,
        )
    position = next(i for i, (a, b) in enumerate(zip(names, HEADER, strict=True)) if a != b)
    raise DepthCSVError(
        f"the header must be depth,col1..col{resize.SOURCE_WIDTH}; column {position + 1} "
        f"is {names[position]!r}, expected {HEADER[position]!r}",
        line=1,
    )


def _chunks(handle: BinaryIO, data_start: int, chunk_rows: int) -> Iterator[np.ndarray]:
    """float64 (rows, FIELDS) blocks; empty fields are NaN."""
    first_line = 2
    try:
        # No dtype= here: converting afterwards is ~15% faster, and non-numeric text still
        # fails (in to_numpy) inside this try.
        reader = pd.read_csv(
            handle,
            header=None,
            skip_blank_lines=False,
            chunksize=chunk_rows,
            engine="c",
            encoding="utf-8",
            # Only an empty field is missing; pandas would also read "NA", "null", "None"...
            keep_default_na=False,
            na_values=[""],
        )
        for chunk in reader:
            if chunk.shape[1] != FIELDS:
                # pandas takes the field count from the first row and pads shorter ones.
                raise _diagnose(handle, data_start, first_line)
            if any(dtype.kind not in "iuf" for dtype in chunk.dtypes):
                # A column pandas kept as text: numpy's float() would accept "1_0", Arabic-
                # Indic or full-width digits, which are not numbers in a CSV.
                raise _diagnose(handle, data_start, first_line)
            values = chunk.to_numpy(dtype=np.float64)
            yield values
            first_line += len(values)
    except pd.errors.EmptyDataError:
        return  # nothing but blank lines after the header
    except DepthCSVError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        # Non-numeric text, too many fields or bad bytes: pandas does not say where.
        raise _diagnose(handle, data_start, first_line, exc) from None


def _validated(
    handle: BinaryIO, data_start: int, values: np.ndarray, first_line: int
) -> tuple[np.ndarray, np.ndarray]:
    depth, pixels = values[:, 0], values[:, 1:]
    keys, representable = depths.to_keys(depth)
    # Row minima and maxima: two passes instead of whole-matrix masks; NaN propagates
    # into both and fails the comparisons.
    with np.errstate(invalid="ignore"):
        bad_pixels = ~((pixels.min(axis=1) >= 0) & (pixels.max(axis=1) <= 255))
    bad = np.flatnonzero(~representable | bad_pixels)
    if bad.size:
        raise _diagnose(handle, data_start, first_line + int(bad[0]))
    return keys, resize.resize_rows(pixels)


def _refuse_new_duplicates(earlier: list[np.ndarray], chunk: np.ndarray) -> None:
    """Refuse a chunk repeating a depth of itself or of an earlier chunk."""
    # Real files go strictly downward in depth: then one comparison per row suffices.
    increasing = bool(np.all(chunk[1:] > chunk[:-1]))
    if increasing and (not earlier or chunk[0] > max(k.max() for k in earlier)):
        return
    _refuse_duplicates(np.concatenate([*earlier, chunk]))


def _refuse_duplicates(keys: np.ndarray) -> None:
    order = np.argsort(keys, kind="stable")
    repeats = np.flatnonzero(keys[order[1:]] == keys[order[:-1]])
    if not repeats.size:
        return
    first_index, second_index = _earliest_repeat(order, repeats)
    raise DepthCSVError(
        f"depth {depths.to_depth(int(keys[second_index]))} repeats the depth of line "
        f"{first_index + 2}; each depth may appear once per file",
        line=second_index + 2,
    )


def _earliest_repeat(order: np.ndarray, repeats: np.ndarray) -> tuple[int, int]:
    # A stable sort keeps equal keys in file order, so order[i] precedes order[i + 1].
    seconds = order[repeats + 1]
    pick = int(np.argmin(seconds))
    return int(order[repeats[pick]]), int(seconds[pick])


def _empty_row_error(line: int) -> DepthCSVError:
    return DepthCSVError("empty row; only empty rows at the end of the file are skipped", line=line)


def _diagnose(
    handle: BinaryIO, data_start: int, from_line: int, cause: Exception | None = None
) -> DepthCSVError:
    """Re-read lines from ``from_line`` in plain Python and describe the first bad one."""
    handle.seek(data_start)
    empty_line = None
    # readline, not iteration: Django's File iterates from the start of the file.
    for line_number, raw in enumerate(iter(handle.readline, b""), start=2):
        if line_number < from_line:
            continue
        problem = _line_problem(raw)
        if problem == "":
            empty_line = empty_line or line_number
            continue
        if empty_line is not None:
            return _empty_row_error(empty_line)
        if problem is not None:
            return DepthCSVError(problem, line=line_number)
    reason = f" ({cause})" if cause else ""
    return DepthCSVError(f"the rows from here on could not be read{reason}", line=from_line)


def _line_problem(raw: bytes) -> str | None:
    """What is wrong with one data line: None when nothing, "" for an empty row."""
    try:
        text = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        return "not UTF-8 text"
    fields = text.split(",")
    if not any(field.strip() for field in fields):
        return ""
    if len(fields) != FIELDS:
        return (
            f"expected {FIELDS} values (depth and col1..col{resize.SOURCE_WIDTH}), "
            f"found {len(fields)}"
        )
    for name, field in zip(HEADER, fields, strict=True):
        problem = _value_problem(name, field.strip())
        if problem:
            return problem
    return None


def _value_problem(name: str, field: str) -> str | None:
    if not field:
        return f"{name} is empty"
    if not NUMBER.match(field):
        return f"{name} value {field!r} is not a number"
    value = float(field)
    if name == "depth":
        if math.isnan(value):
            return "depth is NaN"
        if math.isinf(value):
            return "depth is not finite"
        if not depths.to_keys(np.array([value]))[1][0]:
            return (
                f"depth {field} has more than {depths.DECIMALS} decimals or is out of range "
                f"(|depth| < {depths.MAX_ABS_DEPTH:g})"
            )
        return None
    if not 0 <= value <= 255:
        return f"{name} value {field} is outside 0-255"
    return None
