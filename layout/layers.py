"""sky130 GDS layers (layer, datatype) and the drawn-geometry rules the generator keeps to (micrometres).

Numbers follow the sky130 layer map (the same ones the LVS deck of klayout-pex reads); the rules are the minimum
widths, spacings and enclosures of the sky130 periphery rules for the layers used here.
"""

from __future__ import annotations

# drawing layers
NWELL = (64, 20)
DIFF = (65, 20)
TAP = (65, 44)
POLY = (66, 20)
LICON = (66, 44)
NPC = (95, 20)
NSDM = (93, 44)
PSDM = (94, 20)
LVTN = (125, 44)
HVTP = (78, 44)
LI = (67, 20)
MCON = (67, 44)
MET1 = (68, 20)
VIA1 = (68, 44)
MET2 = (69, 20)
VIA2 = (69, 44)
MET3 = (70, 20)
VIA3 = (70, 44)
MET4 = (71, 20)
CAPM2 = (97, 44)
VIA4 = (71, 44)
MET5 = (72, 20)
#: label layers (text shapes naming a net) of the conductors that carry pins
LABEL = {LI: (67, 5), MET1: (68, 5), MET2: (69, 5), MET3: (70, 5), MET4: (71, 5), MET5: (72, 5)}
#: pin layers (the label's drawn pin shape)
PIN = {LI: (67, 16), MET1: (68, 16), MET2: (69, 16), MET3: (70, 16), MET4: (71, 16), MET5: (72, 16)}

# rules (um)
LICON_SIZE = 0.17
LICON_SPACE = 0.17
DIFF_ENC_LICON = 0.06         # diff around a licon (0.04 min; 0.06 keeps both directions legal)
LICON_TO_GATE = 0.055
POLY_SPACE = 0.21
POLY_ENDCAP = 0.13            # poly past the diff
POLY_ENC_LICON = 0.08
POLY_LICON_TO_DIFF = 0.19
NPC_ENC_LICON = 0.1
LI_ENC_LICON = 0.08           # li past the licon, along the strip
LI_WIDTH = 0.17
MCON_SIZE = 0.17
MET1_ENC_MCON = 0.06
MET1_WIDTH = 0.14
MET1_SPACE = 0.14
VIA1_SIZE = 0.15
MET_ENC_VIA1 = 0.085
MET2_WIDTH = 0.14
IMPLANT_ENC_DIFF = 0.125
NWELL_ENC_PDIFF = 0.18
VT_ENC_GATE = 0.18
VIA2_SIZE = 0.2
MET_ENC_VIA2 = 0.085
VIA3_SIZE = 0.2
MET_ENC_VIA3 = 0.09
MET3_WIDTH = 0.3
MET4_WIDTH = 0.3
VIA4_SIZE = 0.8
CAPM_ENC_VIA = 0.2
MET4_ENC_CAPM = 0.14
MET5_WIDTH = 1.6
