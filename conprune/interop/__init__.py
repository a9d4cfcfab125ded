"""transformers import/export: map Hugging Face Conformer-CTC checkpoints (Parakeet / FastConformer-CTC,
LASR) to conprune configs and state_dicts and back. Works on plain config dicts and state_dicts, so
it never imports transformers; it imports conprune.models only."""
