"""conprune.corpus: synthesises a LibriSpeech-layout corpus offline (TTS engines, public-domain text)."""
