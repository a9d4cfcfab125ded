"""Copy a conprune checkpoint without optimizer state, weights in fp16 (to carry a teacher elsewhere).

    python scripts/slim_ckpt.py IN.ckpt OUT.ckpt

Loading copies the fp16 weights into the fp32 model (rounding error ~1e-3 relative).
"""

import sys

import torch

ckpt = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
keep = {k: ckpt[k] for k in ("state_dict", "conprune", "hyper_parameters") if k in ckpt}
keep["state_dict"] = {k: v.half() if v.is_floating_point() else v
                      for k, v in keep["state_dict"].items() if k.startswith("model.")}
torch.save(keep, sys.argv[2])
