"""``python -m checks``: the --plot path is checked first; the progress bar stays on stderr."""

import io
import os
import re
import sys

import pytest

from checks.cli import main


class Terminal(io.StringIO):
    def isatty(self):
        return True


def refused(capsys, *argv):
    """The exit status and stderr of a command line that must stop before any check."""
    with pytest.raises(SystemExit) as stopped:
        main(list(argv))
    out, err = capsys.readouterr()
    assert out == ""                                     # not even the table's header
    return stopped.value.code, err


def test_an_unwritable_plot_path_is_refused_before_any_check(tmp_path, capsys):
    (tmp_path / "plain").write_text("a file")
    (tmp_path / "folder").mkdir()
    cases = [(tmp_path / "missing" / "errors.png",
              f"the directory {tmp_path / 'missing'} does not exist"),
             (tmp_path / "folder", "it is a directory"),
             (tmp_path / "plain" / "errors.png", f"{tmp_path / 'plain'} is not a directory"),
             (tmp_path / "errors.txt", "matplotlib cannot save .txt files (it saves .avif, ")]
    for path, reason in cases:
        status, err = refused(capsys, "--only", "relu", "--plot", str(path))
        assert status == 2
        assert f"python -m checks: error: --plot: cannot write {path}: {reason}" in err
    assert sorted(os.listdir(tmp_path)) == ["folder", "plain"]


def test_a_plot_path_without_permission_is_refused(tmp_path, capsys, monkeypatch):
    # Permission bits do not stop root, so the answer of os.access is simulated.
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    status, err = refused(capsys, "--plot", str(tmp_path / "errors.png"))
    assert status == 2 and f"cannot write {tmp_path / 'errors.png'}: permission denied" in err


def test_a_writable_plot_path_gets_the_chart(tmp_path, capsys):
    path = tmp_path / "errors.png"
    assert main(["--only", "relu", "--plot", str(path)]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"bar chart of max errors saved to {path}" in capsys.readouterr().out


def run_with_streams(monkeypatch, stdout, stderr):
    monkeypatch.setattr(sys, "stdout", stdout)
    monkeypatch.setattr(sys, "stderr", stderr)
    assert main(["--only", "affine,relu", "--dtype", "both"]) == 0
    monkeypatch.undo()
    # The run's duration is the one part of the report that differs between runs.
    return re.sub(r" in \d+\.\d s:", " in ? s:", stdout.getvalue()), stderr.getvalue()


def test_a_terminal_gets_a_bar_on_stderr_and_the_same_report_on_stdout(monkeypatch):
    report, quiet = run_with_streams(monkeypatch, io.StringIO(), io.StringIO())
    assert quiet == "" and report.count("\n") == 11 and "4 passed, 0 failed" in report
    for stdout in (io.StringIO(), Terminal()):       # a file, or the bar's own terminal
        same, bar = run_with_streams(monkeypatch, stdout, Terminal())
        assert same == report
        assert "\rchecking:   0%|" in bar and "| 0/4 [" in bar
        assert bar.endswith("\r")                          # cleared at the end, not left


def screen(text):
    """What a terminal shows after `text`: a carriage return goes back to the line start."""
    lines, line, column = [], [], 0
    for char in text:
        if char == "\r":
            column = 0
        elif char == "\n":
            lines.append("".join(line).rstrip())
            line, column = [], 0
        else:
            line[column:column + 1] = [char]
            column += 1
    return "\n".join([*lines, "".join(line).rstrip()])


def test_rows_and_bar_on_one_terminal_leave_the_report_on_screen(monkeypatch):
    report, _ = run_with_streams(monkeypatch, io.StringIO(), io.StringIO())
    terminal = Terminal()
    shown, _ = run_with_streams(monkeypatch, terminal, terminal)
    assert "checking:" in shown                       # the bar was drawn between the rows
    assert screen(shown) == report
