"""Write the full-size Stable Audio Open 1.0 architecture with random fp16 weights as a hub-layout snapshot.

    python scripts/gpu/build_random_snapshot.py OUT_DIR      # on a CUDA machine, about a minute

The configs are the real ones in tests/fixtures/stable-audio-open-1.0-configs (see measure_units.py, which
shares the builder); the tokenizer is the tiny word tokenizer. Timing and memory are the real architecture's,
the audio is noise.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure_units import build_random_snapshot  # noqa: E402

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/gpu/build_random_snapshot.py OUT_DIR")
    import torch

    if not torch.cuda.is_available():
        sys.exit("build_random_snapshot.py needs a CUDA GPU (it initialises the weights there)")
    print(build_random_snapshot(Path(sys.argv[1])))
