"""Progress while a long transient runs: ngspice's own status line reaches the parent (the verification used to sit
at "0/2" for minutes), and the bar neither counts cache hits nor runs backwards."""

from __future__ import annotations

import pytest

from imcpnn.spice.jobs import SimJob
from imcpnn.spice.pool import _JobProgress, run_local

pytestmark = pytest.mark.spice

# ~3-4 s of ngspice: long enough for a few once-a-second progress messages
SLOW_RC = SimJob("slow rc\nr1 a b 1k\nc1 b 0 1u\nv1 a 0 sin(0 1 1k)\n", ("tran 0.2u 400m",), ("time",), "slow")


def test_a_running_transient_reports_its_fraction():
    seen: list[tuple[int, float]] = []
    results = {}
    run_local([SLOW_RC], 1, 120.0, lambda i, r: results.setdefault(i, r), on_progress=lambda i, f: seen.append((i, f)))
    assert results[0].ok, results[0].error
    assert len(seen) >= 2, (seen, results[0].seconds)
    fracs = [f for _, f in seen]
    assert all(i == 0 for i, _ in seen) and 0 < fracs[0] < 1 and fracs == sorted(fracs)


def test_in_process_jobs_report_too():
    # one job on one worker runs in this process (run_jobs' inline path): the status line feeds the bar directly
    from imcpnn.spice.jobs import execute
    from imcpnn.spice.progress import JobStatus, reporting

    seen: list[float] = []
    with reporting(JobStatus(lambda i, f: seen.append(f))) as status:
        status.start(0, SLOW_RC.commands)
        result = execute(SLOW_RC)
    assert result.ok and len(seen) >= 2 and seen == sorted(seen) and 0 < seen[0] < 1, seen


def test_bar_counts_only_what_runs_and_never_goes_back():
    bar = _JobProgress(total=2, cached=5, label="t", enabled=True)
    bar.advance(0, 0.5)
    bar.advance(0, 0.3)  # a late, smaller report: ignored
    bar.advance(1, 1.0)
    assert bar.bar.total == 2 and bar.bar.n == pytest.approx(1.5) and "(5 cached)" in bar.bar.desc
    bar.close()


def test_a_job_that_raises_is_one_error_not_worker_tracebacks(capfd):
    # an empty command is a defect outside ngspice (IndexError in the job runner), like the bare NameError PySpice
    # raised for a .lib that failed to load, which printed hundreds of lines of worker tracebacks
    results = {}
    run_local([SimJob("t\nr1 a 0 1k\nv1 a 0 1\n", ("",), None, "empty")], 1, 60.0,
              lambda i, r: results.setdefault(i, r))
    err = capfd.readouterr().err
    assert "Traceback" not in err, err
    assert not results[0].ok and "empty: IndexError" in str(results[0].error)
