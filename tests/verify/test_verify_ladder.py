"""`imc-verify ladder` on tiny real verifications (a 2-epoch Iris run and a --weights network, 2 samples each through
ngspice): the top level reproduces the verification's own figures, the reread verification is checked against what
was recorded, and the calibrated rows repeat the verification's own scale fit (from the result cache)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from imcpnn.cli.verify import main as cli
from imcpnn.errors import ConfigError
from imcpnn.neuron import LADDER, NeuronModel
from imcpnn.spice.cache import ResultCache
from imcpnn.train import run
from imcpnn.verify.ladder import ladder
from imcpnn.verify.reread import read_verification

pytestmark = [pytest.mark.spice, pytest.mark.slow]
CELL = "tests/fixtures/cell_paper.json"


@pytest.fixture(scope="module")
def verified(tmp_path_factory):
    """(run dir, weights-verification dir, result cache): one verification of each kind, in a private cache."""
    root = tmp_path_factory.mktemp("ladder")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IMC_CACHE_DIR", str(root / "cache"))
        rd, _ = run("iris-bottomup", out=root / "run", cell=CELL, sets=["optim.epochs=2"], progress=False)
        _ok(["run", str(rd), "--samples", "2", "--calibration", "1", "--scale-mode", "global"])
        rng = np.random.default_rng(0)
        np.savez(root / "w.npz", l0=rng.uniform(-1, 2, (3, 5)))
        np.savetxt(root / "x.csv", rng.uniform(0, 0.8, (2, 5)), delimiter=",")
        _ok(["run", "--weights", str(root / "w.npz"), "--inputs", str(root / "x.csv"), "--cell", CELL,
             "--out", str(root / "wverify")])
        yield rd, root / "wverify", ResultCache(root / "cache")


def _ok(args):
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    return res


def _top_matches_summary(out_dir, vdir):
    res = json.loads((out_dir / "ladder.json").read_text())
    assert [r["level"] for r in res["levels"]] == list(LADDER)
    summary = json.loads((vdir / "summary.json").read_text())
    for got, want in zip(res["levels"][-1]["as_verified"]["layers"], summary["errors_per_layer"]):
        assert got["rmse_ns"] == pytest.approx(want["rmse_ns"], abs=2e-3)  # spike_times.csv rounds to 1e-6
        assert [got[k] for k in ("both_fired", "both_silent", "only_circuit_fired", "only_model_fired")] == \
            [want[k] for k in ("both_fired", "both_silent", "only_circuit_fired", "only_model_fired")]
    assert res["levels"][-1]["as_verified"]["class_agreement"] == summary["class_agreement"]
    return res


def test_ladder_of_a_run_reproduces_its_verification_and_keeps_earlier_results(verified):
    rd, _, _ = verified
    _ok(["ladder", str(rd)])
    res = _top_matches_summary(rd / "verify-ladder", rd / "verify")
    assert res["levels"][0]["model"]["per_synapse_lambda"] is False
    md = (rd / "verify-ladder" / "ladder.md").read_text()
    assert all(f"| {lv} |" in md for lv in LADDER)
    again = CliRunner().invoke(cli, ["ladder", str(rd / "verify")])
    assert again.exit_code == 2 and "already holds a model ladder" in again.output
    _ok(["ladder", str(rd / "verify"), "--force"])


def test_a_moved_copy_is_read_and_a_changed_one_refused(verified, tmp_path):
    rd, _, _ = verified
    copy = shutil.copytree(rd, tmp_path / "moved")
    v = read_verification(copy)
    assert v.directory == copy / "verify" and v.net.cal_inputs is not None
    (copy / "verify" / "test_inputs.csv").write_text("0.5,0.5,0.5,0.5,0.5\n" * 2)
    with pytest.raises(ConfigError, match="not the file the verification simulated"):
        read_verification(copy)
    shutil.copy(rd / "verify" / "test_inputs.csv", copy / "verify" / "test_inputs.csv")
    changed = NeuronModel.load(copy / "model.json")
    changed.with_reversal(100.0).save(copy / "model.json")
    with pytest.raises(ConfigError, match="do not reproduce the model times"):
        read_verification(copy)


def test_calibrated_rows_repeat_the_verifications_own_fit(verified):
    rd, _, cache = verified
    v = read_verification(rd)
    res = ladder(v, calibrate=True, cache=cache, levels=(LADDER[-1],), log=lambda m: None)
    cal = res["levels"][0]["calibrated"]
    summary = json.loads((rd / "verify" / "summary.json").read_text())
    assert cal["scale"] == summary["scale"]["pos"]
    assert cal["calibration_rmse_ns"] == pytest.approx(summary["calibration_rmse_ns"], rel=1e-9)
    assert cal["layers"] == res["levels"][0]["as_verified"]["layers"]


def test_ladder_of_a_weights_verification(verified):
    _, wdir, _ = verified
    _ok(["ladder", str(wdir)])
    _top_matches_summary(wdir.with_name("wverify-ladder"), wdir)
    res = CliRunner().invoke(cli, ["ladder", str(wdir), "--calibrate", "--out", str(wdir.with_name("other"))])
    assert res.exit_code == 2 and "needs calibration samples" in res.output
