"""The demo source: a simulated network that needs no Google account.

`read_demo` yields the same `Batch` records the real connectors emit; `simulate` also
returns the ground truth (who was planted to go cold) so flags can be scored;
`simulate_mailbox` gives a team's worth of mailboxes, one per index.
"""

from connectors.demo.simulator import DemoNetwork, TruthRow, simulate
from connectors.demo.source import mailbox_addresses, read_demo, simulate_mailbox

__all__ = ["DemoNetwork", "TruthRow", "mailbox_addresses", "read_demo", "simulate",
           "simulate_mailbox"]
