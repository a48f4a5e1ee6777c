"""Fine-tuning on the user's approved sessions: ``modellab train``.

The core owns the job: the gate and the model store are checked, preflight runs, the job,
its config and lineage are recorded in the catalog, and the trainer the user names (a
workset's backend, in its confined child) does the training and writes its progress to
``events.jsonl``, which the core shows as it comes.
"""

from modellab.training._job import DEFAULTS, METHODS, JobSpec, prepare, resume_job, start_job
from modellab.training._memory import Device, detect_device, estimate_peak
from modellab.training._preflight import Check, run_preflight
from modellab.training._runs import TrainRun, find_run, list_runs

__all__ = [
    "DEFAULTS",
    "METHODS",
    "Check",
    "Device",
    "JobSpec",
    "TrainRun",
    "detect_device",
    "estimate_peak",
    "find_run",
    "list_runs",
    "prepare",
    "resume_job",
    "run_preflight",
    "start_job",
]
