"""conprune.data"""
