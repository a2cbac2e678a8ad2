#!/usr/bin/python3
"""Loads an exported state dict into its PyTorch twin and measures it: the hand check of `export state-dict` (docs/dialects.md).

    compressionlab export state-dict --model vgg-small.ckpt --out vgg.safetensors --python vgg_model.py
    python3 benchmarks/check_state_dict.py --state-dict vgg.safetensors --model-py vgg_model.py [--data DIR] [--reference-logits FILE]
        [--compare-state-dict FILE --compare-model-py FILE]

Reads the safetensors file with the `safetensors` package when it is installed, else with the few lines of the format below
(8-byte little-endian header length, JSON header, raw little-endian data), builds the twin (`build()` of --model-py), loads the
weights with `load_state_dict(strict=True)`, evaluates the Fashion-MNIST test split with the engine's normalisation
((x/255 - 0.2860)/0.3530) and prints one JSON line: top-1, and with --reference-logits (one row of logits per test image, in
order, as the engine computed them) the largest absolute difference from them. With --compare-state-dict and --compare-model-py
(e.g. a recipe's pytorch_model_pruned.safetensors and pytorch_model.py beside its thinned pytorch_model_thin.*) the second
network is loaded and evaluated the same way, and the line adds its top-1, the largest |logit difference| between the two
over every test image and how many predictions differ: the thinned network must compute what the masked one computes.
Needs any PyTorch (Debian's python3-torch 1.13 works); no numpy.
"""
import argparse
import gzip
import importlib.util
import json
import os
import struct

import torch

MEAN, STD = 0.2860, 0.3530
DATA_FOLDERS = ["/usr/share/datasets/fashion-mnist", os.path.expanduser("~/.cache/compressionlab/fashion-mnist")]
DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64,
          "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}


def load_safetensors(path):
    try:
        from safetensors.torch import load_file
        return load_file(path), "safetensors"
    except ImportError:
        pass
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    header.pop("__metadata__", None)
    start = 8 + length
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        raw = bytearray(data[start + begin:start + end])
        tensor = torch.frombuffer(raw, dtype=DTYPES[entry["dtype"]]) if raw else torch.empty(0, dtype=DTYPES[entry["dtype"]])
        tensors[name] = tensor.reshape(entry["shape"]).clone()
    return tensors, "own reader"


def read_idx(folder, name):
    for candidate in (name, name + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.exists(path):
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rb") as f:
                data = f.read()
            dims = data[3]
            shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
            return torch.frombuffer(bytearray(data[4 + 4 * dims:]), dtype=torch.uint8).reshape(shape)
    return None


def load_twin(model_py, state_dict):
    """build() of the twin's file, with the state dict loaded strictly (every name and shape must match), in eval mode."""
    spec = importlib.util.spec_from_file_location("twin_" + os.path.basename(model_py).replace(".", "_"), model_py)
    twin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(twin)
    model = twin.build()
    state, reader = load_safetensors(state_dict)
    model.load_state_dict(state, strict=True)
    model.eval()
    return model, state, reader


def evaluate(model, images):
    with torch.no_grad():
        return torch.cat([model(images[i:i + 64]) for i in range(0, images.shape[0], 64)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dict", required=True)
    parser.add_argument("--model-py", required=True)
    parser.add_argument("--data")
    parser.add_argument("--reference-logits")

    parser.add_argument("--compare-state-dict")
    parser.add_argument("--compare-model-py")
    args = parser.parse_args()
    if bool(args.compare_state_dict) != bool(args.compare_model_py):
        parser.error("--compare-state-dict and --compare-model-py go together")

    model, state, reader = load_twin(args.model_py, args.state_dict)

    folder = next(f for f in ([args.data] if args.data else DATA_FOLDERS) if read_idx(f, "t10k-labels-idx1-ubyte") is not None)
    images = read_idx(folder, "t10k-images-idx3-ubyte").unsqueeze(1).float().div(255.0).sub(MEAN).div(STD)
    labels = read_idx(folder, "t10k-labels-idx1-ubyte").long()
    logits = evaluate(model, images)
    result = {"top1": round(logits.argmax(1).eq(labels).float().mean().item(), 6), "images": images.shape[0], "tensors": len(state),
              "parameters": sum(p.numel() for p in model.parameters()), "reader": reader, "torch": torch.__version__}
    if args.compare_state_dict:
        other, other_state, _ = load_twin(args.compare_model_py, args.compare_state_dict)
        other_logits = evaluate(other, images)
        result["compare_top1"] = round(other_logits.argmax(1).eq(labels).float().mean().item(), 6)
        result["compare_parameters"] = sum(p.numel() for p in other.parameters())
        result["compare_max_abs_diff"] = (logits - other_logits).abs().max().item()
        result["compare_disagreements"] = int(logits.argmax(1).ne(other_logits.argmax(1)).sum().item())
    if args.reference_logits:
        with open(args.reference_logits) as f:
            reference = torch.tensor([[float(v) for v in line.split()] for line in f if line.strip()])
        result["reference_rows"] = reference.shape[0]
        result["max_abs_diff"] = (logits[:reference.shape[0]] - reference).abs().max().item()
        result["same_argmax"] = bool(logits[:reference.shape[0]].argmax(1).eq(reference.argmax(1)).all().item())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
