"""conprune.data: reads a LibriSpeech-layout corpus (manifests, features, tokenizer, batches)."""
