#!/usr/bin/env bash
# Install difftone into ./.venv on a fresh machine (Python >= 3.11, package registries only).
#   bash scripts/setup.sh          the workflow and library
#   bash scripts/setup.sh test     ... plus the test tools
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"

# 1. System library for the soundfont renderer of the embedded dataset (pyfluidsynth).
if ! ldconfig -p 2>/dev/null | grep -q libfluidsynth; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "[setup] installing Debian's libfluidsynth3 (soundfont renderer)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libfluidsynth3 >/dev/null
  else
    echo "[setup] libfluidsynth is missing: install it (Debian/Ubuntu: apt-get install libfluidsynth3;" \
         "conda: conda install -c conda-forge fluidsynth) and rerun" >&2
    exit 1
  fi
fi

# 1a. The General MIDI soundfonts the embedded dataset is rendered from (config.yaml data.soundfonts;
#     TimGM6mb is pretty_midi's own copy). FluidR3 is not installed: it is kept aside as an independent check.
fonts=(/usr/share/sounds/sf2/sf_GMbank.sf2 /usr/share/sounds/sf3/MuseScore_General_Lite.sf3)
if ! ls "${fonts[@]}" >/dev/null 2>&1; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "[setup] installing Debian's csound-soundfont and musescore-general-soundfont-small (embedded dataset)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq csound-soundfont musescore-general-soundfont-small >/dev/null
  else
    echo "[setup] the embedded dataset's soundfonts are missing: install them (Debian/Ubuntu: apt-get install" \
         "csound-soundfont musescore-general-soundfont-small), or set data.soundfonts to .sf2/.sf3 files" >&2
    exit 1
  fi
fi

# 1b. For the tests only: headless Chromium and its driver (the report page's browser test drives
#     Debian's chromium through selenium; nothing is downloaded by the test itself).
if [ "$extras" = test ] && ! { command -v chromium >/dev/null && command -v chromedriver >/dev/null; }; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "[setup] installing Debian's chromium and chromium-driver (browser test of the report page)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "[setup] chromium/chromedriver are missing for the report's browser test: install them" \
         "(Debian/Ubuntu: apt-get install chromium chromium-driver) and rerun" >&2
    exit 1
  fi
fi

# 2. A virtual environment.
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true

# 3. torch first, so that pip never pulls a multi-GB CUDA build as a dependency.
#    torch==2.13.0 is the CPU build on these machines; on a GPU cluster install your
#    CUDA build of torch before running this script and it is kept.
if ! python -c "import torch" 2>/dev/null; then
  echo "[setup] installing torch==2.13.0"
  pip install -q torch==2.13.0 2>&1 | grep -v "^WARNING: Location" || true
fi

# 4. The project, editable, with its pinned dependencies.
spec="."
[ "$extras" = test ] && spec=".[test]"
echo "[setup] installing difftone ($spec)"
pip install -q -e "$spec" 2>&1 | grep -v -e "^WARNING: Location" -e "^ *$" -e "!!" -e "corresp(" || true
python -c "import difftone, torch, diffusers, snakemake; print('[setup] ok: difftone', difftone.__version__, '| torch', torch.__version__)"

# 5. librosa compiles its numba kernels on first use and caches them in site-packages; two workflow jobs
#    doing that at once can read a half-written cache (a SIGSEGV of the sweep job in a fresh venv, the
#    first run of 2026-12-02). Compile them here, in one process, before any job runs.
python - <<'PY'
import warnings

import numpy as np
import librosa

warnings.simplefilter("ignore")  # the short signal's CQT octaves

for dtype in (np.float32, np.float64):
    y = (0.1 * np.sin(2 * np.pi * 440 * np.arange(22050) / 22050)).astype(dtype)
    librosa.feature.chroma_stft(y=y, sr=22050, hop_length=512)
    librosa.feature.chroma_cqt(y=y, sr=22050, hop_length=512)
    mfcc = librosa.feature.mfcc(y=y, sr=22050, n_mfcc=20)
    librosa.feature.delta(mfcc)
    librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=22050))
    librosa.griffinlim(np.abs(librosa.stft(y, n_fft=512)), n_iter=2)
    librosa.resample(y, orig_sr=22050, target_sr=44100)
print("[setup] librosa's numba kernels compiled")
PY
