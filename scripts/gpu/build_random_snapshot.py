"""Write the full-size Stable Audio Open 1.0 architecture with random fp16 weights as a hub-layout snapshot.

    python scripts/gpu/build_random_snapshot.py OUT_DIR      # on the CPU, about a minute and 3.5 GB

difftone.rehearsal.build_random_sao (the one builder; measure_units.py and the full-size rehearsal use it):
the configs are the real ones in tests/fixtures/stable-audio-open-1.0-configs; the tokenizer has t5-base's
id layout, not its pieces. Timing and memory are the real architecture's, the audio is noise.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from difftone.rehearsal import build_random_sao  # noqa: E402

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/gpu/build_random_snapshot.py OUT_DIR")
    print(build_random_sao(Path(sys.argv[1])))
