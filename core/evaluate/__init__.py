"""evaluate: what the weights are worth against the peers (report.py), and how fast they run (bench.py).

Names the CLI needs before anything heavy is imported live here."""

# the methods `convlstm evaluate` runs unless told (methods.METHODS has them all); convlstm-dedup and
# convlstm-full-rate are for --repeats
DEFAULT_METHODS = ("convlstm", "paper", "blend", "repeat", "mvtools", "svp")
