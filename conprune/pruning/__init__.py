"""conprune.pruning"""
