"""Pretrained transformers run by attncli's own NumPy code (no torch at run time), behind one interface.

base.py       the interface: ModelInfo, Tokens/Tokenizer, Model (embed + layer → forward), Architecture
registry.py   the architectures by name, and the loader that picks one for a folder
locate.py     where models are found: a folder the caller names, $ATTN_MODEL, the installed model package
bert.py       a BERT encoder (architecture "bert"): config, memory-mapped safetensors weights, its layers
tokenize.py   BERT's WordPiece tokenizer (tokenizers library), padding and truncation off
special.py    erf and exact GELU, which NumPy does not have
"""
