"""Reading the files a CSM writes: a size cap, UTF-8, TOML errors with file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from csm.textfile import MAX_FILE_BYTES, UnreadableFile, load_toml, read_text


def _refused(path: Path, reader=read_text) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(UnreadableFile) as caught:
        reader(path)
    return str(caught.value)


def test_a_file_up_to_the_cap_is_read(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_bytes(b"x" * MAX_FILE_BYTES)
    assert len(read_text(path)) == MAX_FILE_BYTES
    path.write_bytes(b"x" * (MAX_FILE_BYTES + 1))
    assert _refused(path) == f"{path}:1:1: the file is larger than 128 KB, the most csm reads; split it up"


def test_a_byte_that_is_not_utf8_is_named_with_its_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes("title: Caf\u00e9\n".encode() + b"  when: b\xe9ta\n")
    assert _refused(path) == f"{path}:2:10: not UTF-8 text (byte 0xe9); save the file as UTF-8"
    with pytest.raises(UnreadableFile, match=r"^shown\.yaml:2:10: "):
        read_text(path, "shown.yaml")


def test_a_missing_file_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    assert _refused(tmp_path / "nope.yaml").startswith(f"{tmp_path / 'nope.yaml'}:1:1: cannot read it: ")


def test_toml_errors_name_the_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "csm.toml"
    path.write_text('me = "dana@example.com"\ntoday = 2026-13-01\n')
    assert _refused(path, load_toml).startswith(
        f"{path}:2:13: TOML syntax: Expected newline or end of document after a statement\n"
        "    today = 2026-13-01\n"
    )
    path.write_text("x = " + "[" * 10_000 + "]" * 10_000 + "\n")
    assert _refused(path, load_toml) == f"{path}:1:1: TOML syntax: arrays or inline tables nested too deeply"
    path.write_text('database = "csm.db"\n')
    assert load_toml(path) == {"database": "csm.db"}
