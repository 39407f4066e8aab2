import os

# One BLAS thread per test process: the suite's arrays are small, and on a 2-core machine
# running pytest-xdist workers, OpenBLAS threads that spin waiting for work slow every
# worker down many times over. Set before NumPy is first imported; an explicit setting in
# the environment wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(231)
