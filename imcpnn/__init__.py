"""imc-pnn: circuit-to-model toolchain for charge-domain analog in-memory computing.

The stage folders at the repository root (pdk/, netlists/, spice/, extract/, models/, train/, verify/, cli/) are
installed as sub-packages of this package through setuptools' package-dir mapping (see pyproject.toml).
"""

__version__ = "0.1.0"
