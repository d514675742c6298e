"""The demo source: a simulated network that needs no Google account.

`read_demo` yields the same `Batch` records the real connectors emit; `simulate` also
returns the ground truth (who was planted to go cold) so flags can be scored.
"""

from connectors.demo.simulator import DemoNetwork, TruthRow, simulate
from connectors.demo.source import read_demo

__all__ = ["DemoNetwork", "TruthRow", "read_demo", "simulate"]
