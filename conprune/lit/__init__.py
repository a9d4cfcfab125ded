"""conprune.lit"""
