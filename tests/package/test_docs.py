"""The documentation site builds offline with warnings as errors, documents every public
name, shows the outputs its code printed, and has no broken internal link.

Needs the ``docs`` extra (skips without it). The site is built once for the module, into
a temporary folder, or taken from ``GATELAB_DOCS_HTML`` when a build already made it
(CI builds the site with ``python -m sphinx -W -b html docs docs/_build/html`` first).
"""

import fcntl
import html
import importlib
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

for needed in ("sphinx", "myst_nb", "numpydoc", "furo"):
    pytest.importorskip(needed)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("layers", "graph", "checks", "training")
PAGES = ("index", "getting_started", "worked_examples", "rules", "compatibility", "torch",
         "grading", "assignments", "api/index")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    built = os.environ.get("GATELAB_DOCS_HTML")
    if built:
        return Path(built)
    # One build per test session: pytest-xdist's workers share the parent of their
    # temporary folders, and the first to take the lock builds there.
    base = tmp_path_factory.getbasetemp()
    out = (base.parent if "PYTEST_XDIST_WORKER" in os.environ else base) / "docs-site"
    out.mkdir(exist_ok=True)
    with open(out / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "html" / "index.html").is_file():
            done = subprocess.run(
                [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", "-d",
                 out / "doctrees", ROOT / "docs", out / "html"],
                capture_output=True, text=True, timeout=1800)
            assert done.returncode == 0, done.stderr[-6000:]
    return out / "html"


# What the cells of the getting-started page print, in full (the page's code runs when the
# site is built; this is what it must show).
L2_HINT = ("FAIL: analytic - numeric = -0.1 x the argument itself: a term proportional to "
           "it is missing or wrong, such as an L2 regularization gradient reg * W")
GETTING_STARTED_PRINTS = [
    f"""\
gradient check of MyNet (float64, tolerance 1e-06): FAILED
layer  arg  max rel err  worst index  analytic       numeric        status
MyNet  W1   1.00e+00     (3, 2)       -9.942807e-03  +2.441832e-02  {L2_HINT}
MyNet  b1   2.16e-10     (2,)         +4.273326e-02  +4.273326e-02  pass
MyNet  W2   1.00e+00     (3, 1)       -2.402144e-02  +3.822943e-03  {L2_HINT}
MyNet  b2   3.44e-11     (1,)         -1.444769e-01  -1.444769e-01  pass
  W1: elementwise, median rel err 2.70e-01; worst elements:
    (3, 2)         analytic -9.942807e-03  numeric +2.441832e-02  rel err 1.00e+00
    (1, 2)         analytic +2.905916e-02  numeric -6.904014e-03  rel err 1.00e+00
    (3, 3)         analytic -1.799594e-02  numeric +2.199349e-03  rel err 1.00e+00
    (1, 3)         analytic +2.765022e-02  numeric +1.530560e-03  rel err 8.95e-01
    (0, 2)         analytic -7.783010e-03  numeric -2.544530e-02  rel err 5.32e-01
  W2: elementwise, median rel err 7.13e-02; worst elements:
    (3, 1)         analytic -2.402144e-02  numeric +3.822943e-03  rel err 1.00e+00
    (1, 0)         analytic -1.383596e-02  numeric -2.353030e-02  rel err 2.59e-01
    (2, 0)         analytic -5.894872e-02  numeric -3.844367e-02  rel err 2.11e-01
    (2, 1)         analytic -8.887857e-02  numeric -6.345819e-02  rel err 1.67e-01
    (0, 1)         analytic -1.617269e-01  numeric -1.994128e-01  rel err 1.04e-01
""",
    """\
1.0914
['W1', 'W2', 'b1', 'b2', 'x']
True
""",
    """\
False
gate 'affine1' (affine): ok
gate 'relu1' (relu): ok
gate 'scale1' (scale): FAILED: s max rel err 7.8e-01, analytic = 0.125 x numeric
gate 'affine2' (affine): ok
gate 'loss' (softmax_loss): ok
""",
]


class Anchors(HTMLParser):
    """The ids of a page and the local links (href, src) it makes."""

    def __init__(self):
        super().__init__()
        self.ids, self.links = set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key):
                self.ids.add(attrs[key])
        for key in ("href", "src"):
            target = attrs.get(key)
            if target and not urlsplit(target).scheme and not target.startswith("//"):
                self.links.append(target)


def parse(page):
    parser = Anchors()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def text_of(page):
    """The page's text, without its tags (highlighted code is split into spans)."""
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))


def test_every_page_of_the_site_is_built(site):
    for name in PAGES:
        assert (site / f"{name}.html").is_file(), name
    notebooks = sorted(path.stem for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert len(notebooks) == 7
    for name in notebooks:
        assert (site / "assignments" / f"{name}.html").is_file(), name


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_has_its_page(site, package):
    names = importlib.import_module(package).__all__
    assert names
    for name in names:
        page = site / "api" / "generated" / f"{package}.{name}.html"
        assert page.is_file(), f"no page for {package}.{name}"
        assert f"{package}.{name}" in parse(page).ids, f"{page.name} documents no {name}"


def test_every_internal_link_resolves(site):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 150
    ids = {}
    broken = []
    for page in pages:
        for link in parse(page).links:
            parts = urlsplit(link)
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if not target.exists():
                broken.append(f"{page.relative_to(site)}: {link}")
            elif parts.fragment and target.suffix == ".html":
                if target not in ids:
                    ids[target] = parse(target).ids
                if unquote(parts.fragment) not in ids[target]:
                    broken.append(f"{page.relative_to(site)}: {link} (no such anchor)")
    assert not broken, "\n".join(broken[:40])


def test_pages_show_what_their_code_printed(site):
    start = text_of(site / "getting_started.html")
    assert "(2, 3) (2, 4, 4) (16, 3) (3,)" in start
    assert ("affine_forward: w must have shape (D, M) with D=16 from x (N, d_1, ..., d_k); "
            "got w.shape = (10, 3)") in start
    assert "FAIL: analytic = 0.6667 x numeric" in start
    assert "{'x': array(-4.), 'y': array(-4.), 'z': array(3.)}" in start
    assert "gate 'scale1' (scale): FAILED" in start
    for printed in GETTING_STARTED_PRINTS:
        assert printed in start, printed
    examples = text_of(site / "worked_examples.html")
    for line in ("f = -12", "df/dx = -4, df/dy = -4, df/dz = 3",
                 "f = 0.7310585786", "df/dw0 = -0.1966119332, df/dx0 = 0.3932238665, "
                 "df/dw1 = -0.3932238665, df/dx1 = -0.5898357997, df/dw2 = 0.1966119332",
                 "f = 6", "df/dx = 2, df/dy = 5, df/dz = 0"):
        assert line in examples, line
    drawings = [image for image in parse(site / "worked_examples.html").links
                if image.startswith("_images/")]
    assert len(drawings) >= 3


def test_assignments_are_the_student_versions_with_outputs(site):
    page = site / "assignments" / "01_gates_and_circuits.html"
    text = text_of(page)
    assert "raise NotImplementedError" in text
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    assert 'class="cell_output' in page.read_text(encoding="utf-8")
