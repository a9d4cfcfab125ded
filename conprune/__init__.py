"""conprune: structured pruning for Conformer-CTC speech recognisers."""
__version__ = "0.1.0"
