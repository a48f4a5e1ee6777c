"""Model Lab's ``serving`` workset: launch plans for llama.cpp, vLLM, SGLang, TGI and Ollama.

The core starts, confines and supervises the server (``modellab serve``); this workset
prepares the model (GGUF conversion of a candidate, :mod:`modellab_serving.convert`) and
answers the launch plan (:mod:`modellab_serving.recipes`).
"""
