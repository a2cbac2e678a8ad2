#!/usr/bin/python3
"""PyTorch reference for `compressionlab bench train`: vgg-small training steps on Fashion-MNIST.

The same network as ModelZoo's vgg-small (three stages of two 3x3 conv+BN+ReLU at 24/48/96 channels, bias-free
convs, 2x2 max-pool per stage, flatten, dropout 0.3, linear 864->10), the same step as the engine's Trainer:
a batch of 128 picked by a random permutation from uint8 pixels kept in memory (index_select), normalised
((x/255 - 0.2860)/0.3530), each image mirrored with probability 0.5, forward, cross-entropy, backward, AdamW
(lr 2e-3, weight decay 1e-2), loss.item() and the batch's correct count. Channels-last by default (--layout).

Prints one JSON line: median and mean milliseconds per step over the timed steps (after warm-up steps), and the median
CPU time of the process per step (on a machine other processes keep busy, the work without the waits for a core).
With --breakdown also the median CPU time of each part of the step (batch preparation, zero_grad, forward with the loss,
backward, optimizer step, loss and correct count read back).
Usage: python3 benchmarks/pytorch_train_step.py [--data DIR] [--steps 30] [--batch 128] [--threads N] [--layout channels_last|contiguous] [--breakdown]
Needs Debian's python3-torch (1.13) or any PyTorch; DIR holds train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz]
(default: the first of the product's dataset folders that has them, else random images of the same shape).
"""
import argparse
import gzip
import json
import os
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN, STD = 0.2860, 0.3530
# The parts --breakdown times, in step order (the engine's `bench train --breakdown` uses the same names).
PARTS = ["batch", "zero_grad", "forward", "backward", "optimizer", "read_back"]
DATA_FOLDERS = ["/usr/share/datasets/fashion-mnist", os.path.expanduser("~/.cache/compressionlab/fashion-mnist")]


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


def load(folder):
    for f in ([folder] if folder else DATA_FOLDERS):
        images = read_idx(f, "train-images-idx3-ubyte")
        labels = read_idx(f, "train-labels-idx1-ubyte")
        if images is not None and labels is not None:
            return images.unsqueeze(1).contiguous(), labels.long(), f
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (60000, 1, 28, 28), dtype=torch.uint8, generator=g), torch.randint(0, 10, (60000,), generator=g), "random"


def vgg_small(widths=(24, 48, 96), classes=10):
    layers, inputs, size = [], 1, 28
    for w in widths:
        layers += [nn.Conv2d(inputs, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(),
                   nn.Conv2d(w, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2)]
        inputs, size = w, size // 2
    layers += [nn.Flatten(), nn.Dropout(0.3), nn.Linear(inputs * size * size, classes)]
    return nn.Sequential(*layers)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--layout", choices=["channels_last", "contiguous"], default="channels_last")
    parser.add_argument("--breakdown", action="store_true",
                        help="also print the median CPU ms of each part of the step (batch, zero_grad, forward, backward, optimizer, read-back)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    pixels, labels, source = load(args.data)
    fmt = torch.channels_last if args.layout == "channels_last" else torch.contiguous_format
    model = vgg_small().to(memory_format=fmt)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-2)
    generator = torch.Generator().manual_seed(1)
    order = torch.randperm(pixels.shape[0], generator=generator)
    times, cpu_times = [], []
    parts = {name: [] for name in PARTS}
    for step in range(-args.warmup, args.steps):
        start = ((step + args.warmup) * args.batch) % (pixels.shape[0] - args.batch)
        clock, cpu_clock = time.perf_counter(), time.process_time()
        marks = [cpu_clock]
        indices = order[start:start + args.batch]
        inputs = pixels.index_select(0, indices).float().mul_(1.0 / (255.0 * STD)).add_(-MEAN / STD)
        targets = labels.index_select(0, indices)
        mirror = (torch.rand(args.batch, generator=generator) < 0.5).view(-1, 1, 1, 1)
        inputs = torch.where(mirror, inputs.flip(3), inputs).contiguous(memory_format=fmt)
        if args.breakdown: marks.append(time.process_time())
        optimizer.zero_grad()
        if args.breakdown: marks.append(time.process_time())
        logits = model(inputs)
        loss = F.cross_entropy(logits, targets)
        if args.breakdown: marks.append(time.process_time())
        loss.backward()
        if args.breakdown: marks.append(time.process_time())
        optimizer.step()
        if args.breakdown: marks.append(time.process_time())
        _ = loss.item()
        _ = logits.argmax(1).eq(targets).sum().item()
        if step >= 0:
            times.append((time.perf_counter() - clock) * 1000)
            cpu_times.append((time.process_time() - cpu_clock) * 1000)
            if args.breakdown:
                marks.append(cpu_clock + cpu_times[-1] / 1000)
                for name, a, b in zip(PARTS, marks, marks[1:]):
                    parts[name].append((b - a) * 1000)
    print(json.dumps({"median_ms_per_step": round(statistics.median(times), 2), "mean_ms_per_step": round(statistics.mean(times), 2),
                      "min_ms_per_step": round(min(times), 2),
                      "median_cpu_ms_per_step": round(statistics.median(cpu_times), 2), "steps": args.steps, "batch": args.batch, "threads": torch.get_num_threads(),
                      "layout": args.layout, "torch": torch.__version__, "data": source,
                      **({"median_cpu_ms_" + name: round(statistics.median(values), 2) for name, values in parts.items()} if args.breakdown else {})}))


if __name__ == "__main__":
    main()
