"""transformers import/export: map Hugging Face Conformer-CTC checkpoints (Parakeet / FastConformer-CTC,
LASR) to conprune configs and state_dicts and back. `hf_weights` works on plain config dicts and
state_dicts and never imports transformers; `hf_import` and `hf_export` (the `conprune import hf` and
`conprune export --format hf` commands) import it lazily, from the `hf` extra. The package imports
conprune.models and conprune.data (front ends, tokenizers) only."""
