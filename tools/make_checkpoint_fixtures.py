#!/usr/bin/python3
"""Writes the small PyTorch checkpoints cir's compose tests load (tests/data/checkpoints/).

Each file reproduces one layout the reference code writes with torch.save (zip format):
  searle_phi.pt     {"Phi": phi.state_dict()}                     (SEARLE hubconf / train_phi.py)
  pic2word.pt       {"state_dict": {...}, "state_dict_img2text":
                     {"module.layers.0.0.weight": ...}}           (Pic2Word, DataParallel names)
  clip4cir.pt       {"epoch": 3, "Combiner": combiner.state_dict()} (CLIP4Cir utils.save_model)
  legacy.pt         the same as searle_phi.pt in the pre-1.6 (non-zip) format
  searle_phi_train.pt  {"epoch", "Phi", "optimizer", "scaler"}  (SEARLE train_phi.py full checkpoint:
                    AdamW state with tensors, ints, floats, tuples, bools and None beside the weights)
  pic2word_full.pt  {"epoch", "name", "state_dict", "state_dict_img2text", "optimizer"} (Pic2Word's
                    training checkpoint, DataParallel names)
  phi_bare.pt       phi.state_dict() alone (torch.save(net.state_dict()))
Also writes expected outputs (*.expected.pt, {"x": input, "y": output}) so the C++ forward
passes are checked against PyTorch's. Run: /usr/bin/python3 tools/make_checkpoint_fixtures.py
"""
import os
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "checkpoints")


class Phi(nn.Module):
    def __init__(self, d_in, d_hidden, d_out, p=0.5):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(d_in, d_hidden), nn.GELU(), nn.Dropout(p),
                                    nn.Linear(d_hidden, d_hidden), nn.GELU(), nn.Dropout(p),
                                    nn.Linear(d_hidden, d_out))

    def forward(self, x):
        return self.layers(x)


class Im2Text(nn.Module):
    def __init__(self, d_in, d_mid, d_out, n_layer=2, p=0.1):
        super().__init__()
        self.fc_out = nn.Linear(d_mid, d_out)
        layers, dim = [], d_in
        for _ in range(n_layer):
            layers.append(nn.Sequential(nn.Linear(dim, d_mid), nn.Dropout(p), nn.ReLU()))
            dim = d_mid
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.fc_out(x)


class Combiner(nn.Module):
    def __init__(self, d, p, h):
        super().__init__()
        self.text_projection_layer = nn.Linear(d, p)
        self.image_projection_layer = nn.Linear(d, p)
        self.dropout1 = nn.Dropout(0.5)
        self.dropout2 = nn.Dropout(0.5)
        self.combiner_layer = nn.Linear(p * 2, h)
        self.output_layer = nn.Linear(h, d)
        self.dropout3 = nn.Dropout(0.5)
        self.dynamic_scalar = nn.Sequential(nn.Linear(p * 2, h), nn.ReLU(), nn.Dropout(0.5),
                                            nn.Linear(h, 1), nn.Sigmoid())

    def forward(self, image, text):
        t = self.dropout1(F.relu(self.text_projection_layer(text)))
        i = self.dropout2(F.relu(self.image_projection_layer(image)))
        raw = torch.cat((t, i), -1)
        c = self.dropout3(F.relu(self.combiner_layer(raw)))
        lam = self.dynamic_scalar(raw)
        return F.normalize(self.output_layer(c) + lam * text + (1 - lam) * image, dim=-1)


def main():
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    d, width = 16, 12
    phi = Phi(d, 4 * d, width).eval()
    torch.save({"Phi": phi.state_dict()}, os.path.join(OUT, "searle_phi.pt"))
    torch.save({"Phi": phi.state_dict()}, os.path.join(OUT, "legacy.pt"), _use_new_zipfile_serialization=False)
    x = torch.randn(3, d)
    with torch.no_grad():
        torch.save({"x": x, "y": phi(x)}, os.path.join(OUT, "searle_phi.expected.pt"))

    m = Im2Text(d, 20, width).eval()
    img2text = {"module." + k: v for k, v in m.state_dict().items()}
    torch.save({"state_dict": {"module.logit_scale": torch.tensor(4.6)}, "state_dict_img2text": img2text},
               os.path.join(OUT, "pic2word.pt"))
    with torch.no_grad():
        torch.save({"x": x, "y": m(x)}, os.path.join(OUT, "pic2word.expected.pt"))

    c = Combiner(d, 2 * d, 2 * d).eval()  # small: the file size, not the ratio, matters here
    torch.save({"epoch": 3, "Combiner": c.state_dict()}, os.path.join(OUT, "clip4cir.pt"))
    t = torch.randn(3, d)
    with torch.no_grad():
        torch.save({"x": x, "t": t, "y": c(x, t)}, os.path.join(OUT, "clip4cir.expected.pt"))

    # Written after the files above so their random streams (and bytes) do not change.
    write_training_checkpoints(phi, m)


def one_adamw_step(net, lr, weight_decay):
    """An AdamW optimiser after one step on a dummy loss: its state_dict holds per-parameter
    tensors (step, exp_avg, exp_avg_sq) and param_groups with floats, tuples, bools and None."""
    net.train()
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    loss = net(torch.randn(4, net_in_dim(net))).square().mean()
    loss.backward()
    optimizer.step()
    net.eval()
    return optimizer


def net_in_dim(net):
    return next(iter(net.parameters())).shape[1] if isinstance(net, Phi) else net.layers[0][0].in_features


def write_training_checkpoints(phi, im2text):
    phi_optimizer = one_adamw_step(phi, 1e-4, 0.01)
    scaler = {"scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 2000,
              "_growth_tracker": 0}  # GradScaler.state_dict() of an enabled scaler
    torch.save({"epoch": 5, "Phi": phi.state_dict(), "optimizer": phi_optimizer.state_dict(), "scaler": scaler},
               os.path.join(OUT, "searle_phi_train.pt"))
    torch.save(phi.state_dict(), os.path.join(OUT, "phi_bare.pt"))
    x = torch.randn(3, net_in_dim(phi))
    with torch.no_grad():
        torch.save({"x": x, "y": phi(x)}, os.path.join(OUT, "searle_phi_train.expected.pt"))

    p2w_optimizer = one_adamw_step(im2text, 1e-4, 0.1)
    img2text = {"module." + k: v for k, v in im2text.state_dict().items()}
    torch.save({"epoch": 30, "name": "pic2word_fixture", "state_dict": {"module.logit_scale": torch.tensor(4.6)},
                "state_dict_img2text": img2text, "optimizer": p2w_optimizer.state_dict()},
               os.path.join(OUT, "pic2word_full.pt"))
    with torch.no_grad():
        torch.save({"x": x, "y": im2text(x)}, os.path.join(OUT, "pic2word_full.expected.pt"))


if __name__ == "__main__":
    main()
