"""The storage engine: the landing zone, the warehouse, the serving copy and their locks,
the user's settings, and the readers of the warehouse that more than one caller shares
(people lookup, the digest).

It knows nothing of Dagster: `assets/` wires it into Dagster, `pipelines/` into the
definitions and the command line. Imports run one way: connectors <- engine <- assets <-
pipelines.
"""
