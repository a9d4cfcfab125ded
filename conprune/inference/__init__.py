"""conprune.inference: decoding audio files with a trained model."""
