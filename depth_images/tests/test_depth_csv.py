"""Parsing and validation of depth CSVs, without Django."""

import io

import numpy as np
import pytest

from depth_images import synthetic
from depth_images.services import resize
from depth_images.services.depth_csv import DepthCSVError, read_depth_csv


def lines_of(rows=20) -> list[str]:
    return synthetic.csv_bytes(rows).decode().split("\n")


def joined(lines: list[str]) -> bytes:
    return "\n".join(lines).encode()


def read(data: bytes, **kwargs):
    return read_depth_csv(io.BytesIO(data), **kwargs)


def with_line(line_number: int, text: str, rows=20) -> bytes:
    lines = lines_of(rows)
    lines[line_number - 1] = text
    return joined(lines)


def test_real_shape_file_parses_to_keys_and_resized_rows():
    table = read(synthetic.csv_bytes())
    assert len(table.keys) == synthetic.REAL_ROWS
    assert table.skipped_empty_rows == 1
    assert table.keys[0] == 9_000_100
    assert table.keys[-1] == 9_546_000
    assert np.all(np.diff(table.keys) == 100)
    expected = resize.resize_rows(synthetic.pixel_rows(synthetic.REAL_ROWS).astype(np.float64))
    assert table.rows.dtype == np.uint8
    assert np.array_equal(table.rows, expected)


@pytest.mark.parametrize("chunk_rows", [1, 7, 19, 20, 1000])
def test_chunking_does_not_change_the_result(chunk_rows):
    data = synthetic.csv_bytes(20)
    whole, chunked = read(data), read(data, chunk_rows=chunk_rows)
    assert np.array_equal(whole.keys, chunked.keys)
    assert np.array_equal(whole.rows, chunked.rows)
    assert chunked.skipped_empty_rows == 1


def test_bom_and_windows_line_endings_are_accepted():
    plain = read(synthetic.csv_bytes(10))
    odd = read(b"\xef\xbb\xbf" + synthetic.csv_bytes(10, newline="\r\n"))
    assert np.array_equal(plain.keys, odd.keys)
    assert np.array_equal(plain.rows, odd.rows)
    assert odd.skipped_empty_rows == 1


@pytest.mark.parametrize("chunk_rows", [3, 1000])
def test_trailing_empty_rows_of_either_kind_are_skipped_and_counted(chunk_rows):
    data = synthetic.csv_bytes(10, trailing_empty=False) + b"\n" + b"," * 200 + b"\n\n"
    table = read(data, chunk_rows=chunk_rows)
    assert len(table.keys) == 10
    assert table.skipped_empty_rows == 3


def test_no_trailing_newline_and_no_empty_row():
    table = read(synthetic.csv_bytes(5, trailing_empty=False).rstrip(b"\n"))
    assert len(table.keys) == 5
    assert table.skipped_empty_rows == 0


def test_same_depth_written_differently_is_the_same_key():
    lines = lines_of(3)
    lines[2] = "9000.20" + lines[2][len("9000.2") :]
    lines[3] = "9.0003e3" + lines[3][len("9000.3") :]
    assert read(joined(lines)).keys.tolist() == [9_000_100, 9_000_200, 9_000_300]


def test_fractional_pixel_values_are_accepted_and_rounded_after_resizing():
    lines = lines_of(1)
    lines[1] = "1.5," + ",".join(["100.4"] * 200)
    assert read(joined(lines)).rows.tolist() == [[100] * 150]


BAD = [
    (b"", "the file is empty"),
    (b"\xef\xbb\xbf", "the file is empty"),
    (lines_of()[0].encode() + b"\n", "the file has a header but no data rows"),
    (lines_of()[0].encode() + b"\n\n", "the file has a header but no data rows"),
    (
        joined(["depth," + lines_of()[0][len("depth,") :].replace("col7,", "colX,")]),
        "line 1: the header must be depth,col1..col200; column 8 is 'colX', expected 'col7'",
    ),
    (
        joined(["Depth,c1", "1,2"]),
        "line 1: the header must be depth,col1..col200 (201 columns); found 2 columns",
    ),
    (
        with_line(5, "9000.4," + ",".join(["1.0"] * 199)),
        "line 5: expected 201 values (depth and col1..col200), found 200",
    ),
    (
        with_line(2, "9000.1," + ",".join(["1.0"] * 199)),
        "line 2: expected 201 values (depth and col1..col200), found 200",
    ),
    (
        with_line(5, "9000.4," + ",".join(["1.0"] * 201)),
        "line 5: expected 201 values (depth and col1..col200), found 202",
    ),
    (with_line(6, "9000.5,1.0,abc" + ",1.0" * 198), "line 6: col2 value 'abc' is not a number"),
    (with_line(6, "x9000.5" + ",1.0" * 200), "line 6: depth value 'x9000.5' is not a number"),
    (with_line(7, "9000.6,," + ",".join(["1.0"] * 199)), "line 7: col1 is empty"),
    # Python's float() takes these; a CSV number is plain ASCII.
    (with_line(6, "9000.5,1_0" + ",1.0" * 199), "line 6: col1 value '1_0' is not a number"),
    (with_line(6, "9000.5,١٢" + ",1.0" * 199), "line 6: col1 value '١٢' is not a number"),
    (with_line(6, "９０００.5" + ",1.0" * 200), "line 6: depth value '９０００.5' is not a number"),
    (
        with_line(6, "9000.5,２００.5" + ",1.0" * 199),
        "line 6: col1 value '２００.5' is not a number",
    ),
    (with_line(6, "9000.5,NA" + ",1.0" * 199), "line 6: col1 value 'NA' is not a number"),
    (with_line(6, "null" + ",1.0" * 200), "line 6: depth value 'null' is not a number"),
    (with_line(8, "NaN" + ",1.0" * 200), "line 8: depth is NaN"),
    (with_line(8, "" + ",1.0" * 200), "line 8: depth is empty"),
    (with_line(8, "inf" + ",1.0" * 200), "line 8: depth is not finite"),
    (with_line(8, "9000.7001" + ",1.0" * 200), "line 8: depth 9000.7001 has more than 3 decimals"),
    (
        with_line(9, "9000.8" + ",1.0" * 199 + ",256.0"),
        "line 9: col200 value 256.0 is outside 0-255",
    ),
    (with_line(9, "9000.8,-1.0" + ",1.0" * 199), "line 9: col1 value -1.0 is outside 0-255"),
    (with_line(9, "9000.8,nan" + ",1.0" * 199), "line 9: col1 value nan is outside 0-255"),
    (
        with_line(12, "9000.3" + ",1.0" * 200),
        "line 12: depth 9000.3 repeats the depth of line 4; each depth may appear once per file",
    ),
    (
        with_line(10, ""),
        "line 10: empty row; only empty rows at the end of the file are skipped",
    ),
    (
        with_line(10, "," * 200),
        "line 10: empty row; only empty rows at the end of the file are skipped",
    ),
    (with_line(4, "9000.3,\xe9" + ",1.0" * 199).replace(b"\xc3\xa9", b"\xe9"), "line 4: not UTF-8"),
]


@pytest.mark.parametrize("chunk_rows", [4, 1000])
@pytest.mark.parametrize(("data", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_files_name_the_line_and_the_problem(data, message, chunk_rows):
    with pytest.raises(DepthCSVError) as caught:
        read(data, chunk_rows=chunk_rows)
    assert str(caught.value).startswith(message)


def test_crlf_and_bom_do_not_shift_line_numbers():
    data = b"\xef\xbb\xbf" + with_line(6, "9000.5,1.0,abc" + ",1.0" * 198).replace(b"\n", b"\r\n")
    with pytest.raises(DepthCSVError, match=r"^line 6: col2 value 'abc' is not a number"):
        read(data)
