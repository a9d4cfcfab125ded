"""conprune.eval"""
