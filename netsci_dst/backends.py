"""The names of the DST engine's execution backends, importable without torch (the CLI offers them as choices).

``dense``: masks on dense weights, any device; ``sparse``: :class:`~netsci_dst.dst.sparse_linear.SparseLinear`
stores and multiplies only the links (CPU); ``auto``: the engine picks (see
:data:`netsci_dst.dst.engine.AUTO_SPARSE_DENSITY`).
"""

BACKENDS: tuple[str, ...] = ("dense", "sparse", "auto")
