"""PyTorch reference for bench/train.bench.ts: the same GPT-2-style model (pre-LN, learned
positions, tied embeddings, GELU tanh form, causal attention, no dropout) and the same AdamW step
(global-norm clip, decoupled weight decay on 2-D tensors), timed on random tokens.

usage: python3 bench/torch_step.py '{"vocab":2048,"d":64,"layers":2,"heads":2,"seq":64,"batch":16,"steps":10,"warmup":3,"threads":2}'
prints one JSON line: {"torch_ms_per_step": ..., "torch_version": ..., "threads": ...}
"""
import json
import math  # noqa: F401 (used in Block)
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

cfg = json.loads(sys.argv[1])
torch.set_num_threads(cfg.get("threads", 2))
torch.manual_seed(0)
V, d, L, H, T, B = cfg["vocab"], cfg["d"], cfg["layers"], cfg["heads"], cfg["seq"], cfg["batch"]


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d)
        self.c_fc = nn.Linear(d, 4 * d)
        self.mlp_proj = nn.Linear(4 * d, d)
        self.register_buffer("mask", torch.tril(torch.ones(T, T)))

    def forward(self, x):
        b, t, _ = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, H, d // H).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d // H))
        att = F.softmax(att.masked_fill(self.mask[:t, :t] == 0, float("-inf")), dim=-1)
        y = att @ v
        x = x + self.c_proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(V, d)
        self.wpe = nn.Embedding(T, d)
        self.h = nn.ModuleList([Block() for _ in range(L)])
        self.ln_f = nn.LayerNorm(d)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for blk in self.h:
            x = blk(x)
        logits = self.ln_f(x) @ self.wte.weight.t()
        return F.cross_entropy(logits.view(-1, V), targets.view(-1))


model = GPT()
decay = [p for p in model.parameters() if p.dim() >= 2]
no_decay = [p for p in model.parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-3, betas=(0.9, 0.95))
x = torch.randint(0, V, (B, T))
y = torch.randint(0, V, (B, T))


def step():
    loss = model(x, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item()


for _ in range(cfg.get("warmup", 3)):
    step()
times = []
cpu = []  # CPU time of the process: on a shared machine, what the step costs without the wait for a core
for _ in range(cfg.get("steps", 10)):
    t0 = time.perf_counter()
    c0 = time.process_time()
    step()
    times.append((time.perf_counter() - t0) * 1000)
    cpu.append((time.process_time() - c0) * 1000)
times.sort()
cpu.sort()
print(json.dumps({"torch_ms_per_step": times[len(times) // 2], "torch_min_ms_per_step": times[0], "torch_cpu_ms_per_step": cpu[len(cpu) // 2], "torch_version": torch.__version__, "threads": torch.get_num_threads()}))
