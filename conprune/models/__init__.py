"""conprune.models"""
