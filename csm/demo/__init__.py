"""A deterministic demo workspace: 500 accounts with cohorts every built-in step matches.

:mod:`~csm.demo.cohorts` holds the recipes, :mod:`~csm.demo.data` draws the
rows from them, :mod:`~csm.demo.history` replays a summer of runs and
:mod:`~csm.demo.build` puts the workspace together.
"""

from csm.demo.build import DemoSummary, build_demo
from csm.demo.cohorts import DEMO_TODAY

__all__ = ["DEMO_TODAY", "DemoSummary", "build_demo"]
