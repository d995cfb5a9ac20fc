"""One lock around every launch of a multi-threaded (``numba.prange``) analysis kernel.

numba's ``workqueue`` threading layer (the fallback where neither TBB nor OpenMP is available) aborts when two Python
threads run parallel regions at once; the ``omp`` and ``tbb`` layers allow it but would put two thread teams on the
same cores. :func:`netsci_dst.analysis.report.report` runs measures in two threads, so each call site of a parallel
kernel (the shortest paths, the large-mask Curveball) holds :data:`PARALLEL_KERNELS` for the duration of the launch.
Serial compiled kernels need no lock: with ``nogil=True`` they overlap freely with Python work in other threads.
"""

from __future__ import annotations

import threading

__all__ = ["PARALLEL_KERNELS"]

PARALLEL_KERNELS = threading.RLock()
