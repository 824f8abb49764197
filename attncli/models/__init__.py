"""Pretrained transformer encoders run by attncli's own NumPy code (no torch at run time).

locate.py     where models are found: --model PATH, $ATTN_MODEL, the installed model package
bert.py       a BERT encoder: config, memory-mapped safetensors weights, the forward pass
tokenize.py   the model's WordPiece tokenizer (tokenizers library), padding and truncation off
special.py    erf and exact GELU, which NumPy does not have
"""
