"""The flat device form's text, without a simulator: a small wrapper library in the sky130 shape is unrolled into one
card per geometry bin, per-device random draws stay on each device line, and what it cannot keep it refuses."""

import pytest

from imcpnn.errors import ConfigError
from imcpnn.netlists import default_design
from imcpnn.pdk.flat import flatten_netlist

WRAPPER = """* a wrapper in the sky130 shape
.param sw_vth0 = 0.01
.subckt sky130_fd_pr__nfet_01v8 d g s b mult=1
+
.param l = 1 w = 1 nf = 1 nrd = {{0.14/w}}
+ swx_vth = {{sw_vth0+MC_MM_SWITCH*AGAUSS(0,1.0,1)/sqrt(l*w*mult)}}
+ swx_nrds = {{89.1*nf/w+443.5}}
Msky130_fd_pr__nfet_01v8 d g s b nshort_model l = {{l}} w = {{w}} nf = {{nf}} nrd = {{nrd}}
* + deltox = a comment between continuation lines
+ delvto = {{swx_vth*(0.008*8/l+0.992)}}{extra}
.model nshort_model.1 nmos
+ level = 54 lmin = 1.5E-7 lmax = 1E-6 wmin = 4.2E-7 wmax = 1.01E-6
+ rsh = {{swx_nrds}} wint = {{2.1E-8+sw_vth0}}{card}
.model nshort_model.2 nmos
+ level = 54 lmin = 1E-6 lmax = 2E-5 wmin = 1.01E-6 wmax = 1E-4
+ rsh = {{swx_nrds}}
.ends sky130_fd_pr__nfet_01v8
"""
NETLIST = """* test
{lib}
XA d g s 0 sky130_fd_pr__nfet_01v8 W=1 L=0.25 nf=1
XB d g s2 0 sky130_fd_pr__nfet_01v8 W=1 L=0.25 nf=1
XC d g s3 0 sky130_fd_pr__nfet_01v8 W=2 L=1.5 nf=1 m=2
.end"""


def _lib(tmp_path, extra="", card="") -> str:
    """A library file whose section tt includes the wrapper file, as the trimmed sky130 sections do."""
    (tmp_path / "devices.spice").write_text(WRAPPER.format(extra=extra, card=card))
    lib = tmp_path / "lib.spice"
    lib.write_text('.lib tt\n.param MC_MM_SWITCH=0\n.include "devices.spice"\n.endl tt\n')
    return f'.lib "{lib}" tt'


def _flat(tmp_path, extra="", card=""):
    line = _lib(tmp_path, extra, card)
    return flatten_netlist(NETLIST.format(lib=line), line)


def test_one_card_per_geometry_bin_and_draws_per_device(tmp_path):
    text = _flat(tmp_path)
    lines = text.split("\n")
    models = [l for l in lines if l.startswith(".model")]
    assert models == [".model nfet_01v8__l0p25_nf1_w1.1 nmos", ".model nfet_01v8__l1p5_nf1_w2.2 nmos"]
    # the wrapper parameters of the geometry are substituted into the card; global names stay for ngspice
    assert "rsh = {(89.1*(1)/(1)+443.5)}" in text and "wint = {2.1E-8+sw_vth0}" in text
    devices = [l for l in lines if l.startswith("M")]
    assert [d.split()[:5] for d in devices] == [["MA", "d", "g", "s", "0"], ["MB", "d", "g", "s2", "0"],
                                                ["MC", "d", "g", "s3", "0"]]
    assert devices[0].split()[5] == "nfet_01v8__l0p25_nf1_w1" and devices[2].endswith(" m=2")
    assert "l=0.25 w=1 nf=1 nrd={(0.14/(1))}" in devices[0]
    # every device carries its own mismatch draw (the wrapper draws swx_vth once per instance)
    assert all(d.count("AGAUSS(0,1.0,1)") == 1 for d in devices)
    assert "sqrt((1.5)*(2)*(1))" in devices[2]
    assert not any(l.startswith("X") for l in lines)


def test_random_parameter_in_a_shared_card_refused(tmp_path):
    with pytest.raises(ConfigError, match="shared card"):
        _flat(tmp_path, card=" dvt0 = {swx_vth}")


def test_random_parameter_drawn_twice_refused(tmp_path):
    with pytest.raises(ConfigError, match="more than once"):
        _flat(tmp_path, extra=" dtox = {swx_vth}")


def test_geometry_without_bin_refused(tmp_path):
    line = _lib(tmp_path)
    with pytest.raises(ConfigError, match="no model bin"):
        flatten_netlist(f"{line}\nXA d g s 0 sky130_fd_pr__nfet_01v8 W=500 L=0.25 nf=1", line)


def test_device_form_validated():
    with pytest.raises(ConfigError, match="device_form"):
        default_design().derive(device_form="inline")
    assert default_design().device_form == "subckt"


def test_unknown_section_refused(tmp_path):
    line = _lib(tmp_path).replace(" tt", " ff")
    with pytest.raises(ConfigError, match="no section ff"):
        flatten_netlist(NETLIST.format(lib=line), line)
