"""``python -m checks``: the --plot path is checked first; the progress bar stays on stderr;
columns are sized to their content; the summary counts layers and runs apart."""

import io
import os
import re
import subprocess
import sys

import pytest

from checks.cli import main, summary


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


# -- the table and the summary ------------------------------------------------------------------

VECTOR_LAYERS = """
import numpy as np

from checks import register


def lookup_forward(center_vectors, idx):
    return center_vectors[idx], (center_vectors.shape, idx)


def lookup_backward(dout, cache):
    shape, idx = cache
    dcenter_vectors = np.zeros(shape, dout.dtype)
    np.add.at(dcenter_vectors, idx, dout)
    return dcenter_vectors


@register(lookup_forward, lookup_backward)
def lookup_example(rng, dtype):
    return rng.standard_normal((4, 3)).astype(dtype), np.array([0, 2, 2])


def halve_forward(x):
    return 0.5 * x, None


def halve_backward(dout, cache):
    return dout          # the planted bug: the local gradient 0.5 is missing


@register(halve_forward, halve_backward)
def halve_example(rng, dtype):
    return (rng.standard_normal(3).astype(dtype),)
"""

# The errors, gradients and worst elements depend on rounding, so each is written as '#'s
# of its printed width: every character of the layout is still compared.
def halve_rows(run, dtype, seed):
    """The rows of one run of the buggy halve: its row, then its worst elements."""
    float32 = " (float32 backward vs float64: #######)" if dtype == "float32" else ""
    return [f"{run}/8  halve   {dtype}  {seed}     x               ########     (#,)         "
            f"FAIL{float32}: analytic = 2 x numeric",
            "  x: elementwise, median rel err ########; worst elements:",
            *["    (#,)           analytic #############  numeric #############  rel err "
              "########"] * 3,
            *(["    float32 vs float64 backward: rel err ########"] if float32 else [])]


def lookup_rows(run, dtype, seed):
    float32 = " (float32 backward vs float64: #######)" if dtype == "float32" else ""
    return [f"{run}/8  lookup  {dtype}  {seed}     center_vectors  ########     (#, #)       "
            f"pass{float32}",
            f"{run}/8  lookup  {dtype}  {seed}     idx             -            -            "
            "no gradient (integer/bool array: int64 array of shape (#,))"]


VECTOR_REPORT = "\n".join([
    "run  layer   dtype    seed  arg             max rel err  worst index  status",
    *halve_rows(1, "float64", 0), *halve_rows(2, "float64", 1),
    *halve_rows(3, "float32", 0), *halve_rows(4, "float32", 1),
    *lookup_rows(5, "float64", 0), *lookup_rows(6, "float64", 1),
    *lookup_rows(7, "float32", 0), *lookup_rows(8, "float32", 1),
    "",
    "checked 2 layers in 8 runs (2 dtypes x 2 seeds; 8 gradients compared) in ? s: layers 1 "
    "passed, 1 failed; runs 4 passed, 4 failed",
    ""])


def masked(report):
    """`report` with the run's duration as '?' and every computed number (errors,
    gradients, indices of worst elements) as '#'s of the same width."""
    report = re.sub(r" in \d+\.\d s:", " in ? s:", report)
    report = re.sub(r"[+-]?\d\.\d+e[+-]\d+", lambda m: "#" * len(m.group()), report)
    return re.sub(r"\(\d+(, \d+)*,?\)", lambda m: re.sub(r"\d", "#", m.group()), report)


def test_a_users_layers_with_a_long_argument_name_in_two_dtypes_and_seeds(tmp_path):
    (tmp_path / "vector_layers.py").write_text(VECTOR_LAYERS)
    result = subprocess.run([sys.executable, "-m", "checks", "vector_layers.py", "--dtype",
                             "both", "--seeds", "2"], capture_output=True, text=True,
                            cwd=tmp_path)
    assert result.returncode == 1
    assert masked(result.stdout) == VECTOR_REPORT


def column_starts(header):
    """Where each column starts: the header's names are separated by two spaces or more."""
    return [m.start() for m in re.finditer(r"\S+(?: \S+)*", header)]


def test_every_row_of_the_librarys_layers_starts_its_cells_at_the_columns(capsys):
    layers = ("affine", "conv_transpose", "skipgram")
    assert main(["--only", ",".join(layers), "--dtype", "both", "--seeds", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    starts = column_starts(lines[0])
    assert len(starts) == 8
    rows = [line for line in lines if re.match(r"\d+/12 ", line)]
    assert len(rows) == 2 * 2 * (3 + 4 + 4)          # dtypes x seeds x arguments
    cells = [[row[a:b].rstrip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
             for row in [lines[0], *rows]]
    for row, row_cells in zip(rows, cells[1:], strict=True):
        assert all(row[start - 2:start] == "  " for start in starts[1:]), row
        assert all(row_cells) and not any(cell.startswith(" ") for cell in row_cells), row
    run, layer, dtype, seed, arg = zip(*(row_cells[:5] for row_cells in cells[1:]),
                                       strict=True)
    assert set(run) == {f"{k}/12" for k in range(1, 13)} and set(layer) == set(layers)
    assert set(dtype) == {"float64", "float32"} and set(seed) == {"0", "1"}
    assert "outside_vectors" in arg and "conv_param" in arg
    # Each column but the last two is as wide as its widest cell, plus the gap: run,
    # layer, dtype, seed and arg are known before any check; the error's header is wider
    # than any error; worst index is sized to the widest index the shapes allow.
    widths = [b - a - 2 for a, b in zip(starts[:-1], starts[1:], strict=True)]
    assert widths[:6] == [max(len(c[k]) for c in cells) for k in range(6)]
    assert widths[6] >= max(len(c[6]) for c in cells)


@pytest.mark.parametrize("counts, line", [
    ((1, 1, 1, 1, 1, 0.04, 0, 0, 0),
     "checked 1 layer (1 gradient compared) in 0.0 s: 1 passed, 0 failed"),
    ((58, 58, 1, 1, 138, 12.34, 2, 2, 0),
     "checked 58 layers (138 gradients compared) in 12.3 s: 56 passed, 2 failed"),
    ((1, 4, 2, 2, 12, 3.0, 4, 1, 0),
     "checked 1 layer in 4 runs (2 dtypes x 2 seeds; 12 gradients compared) in 3.0 s: "
     "layers 0 passed, 1 failed; runs 0 passed, 4 failed"),
    ((3, 6, 1, 2, 1, 0.5, 1, 1, 1),
     "checked 3 layers in 6 runs (1 dtype x 2 seeds; 1 gradient compared) in 0.5 s: "
     "layers 2 passed, 1 failed; runs 5 passed, 1 failed, 1 not registered"),
    ((2, 2, 1, 1, 2, 0.1, 0, 0, 3),
     "checked 2 layers (2 gradients compared) in 0.1 s: 2 passed, 0 failed, "
     "3 not registered"),
])
def test_the_summary_counts_layers_and_runs_apart_with_plurals(counts, line):
    assert summary(*counts) == line
