"""Sweeps: a grid of recipe arms over seeds, run on this machine or a Slurm cluster, summarised with
bootstrap intervals. ``spec`` reads the sweep file, ``plan`` lays out the runs, ``launch`` starts them,
``execute`` drives a sweep, ``stats`` and ``summary`` turn finished runs into tables and charts."""

from negkit.sweep.execute import Outcome, execute
from negkit.sweep.spec import Sweep, check_sweep, load_sweep
from negkit.sweep.summary import write_summary

__all__ = ["Outcome", "Sweep", "check_sweep", "execute", "load_sweep", "write_summary"]
