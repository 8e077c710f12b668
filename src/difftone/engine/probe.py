"""The target-prompt probe of probe strategies (``ctx.probe`` in :mod:`difftone.engine.strategies`).

``TargetProbe(editor, classifier, trajectory, target_prompt)`` runs the target prompt
once on the source generation's cached noisy latent x_k (one guided denoiser
evaluation, :meth:`Editor.predict_x0`) per step asked for:

- ``probe(k)``: the latent classifier's probabilities on that x0_hat (``probe`` strategy);
- ``probe.prompt_effect(k)``: the RMS difference between that x0_hat and the source
  prompt's (cached) x0_hat at the same step: how much the prompt still changes the
  predicted music (``agree`` strategy; no classifier needed).

Results are kept per step; ``nfe`` counts the evaluations spent, which an edit's NFE
accounting adds to the edit's own.
"""

from __future__ import annotations

import torch

from difftone.engine.loop import Editor
from difftone.engine.trajectory import Trajectory


class TargetProbe:
    def __init__(self, editor: Editor, classifier: torch.nn.Module | None, trajectory: Trajectory, target_prompt: str):
        if classifier is not None and not hasattr(classifier, "instruments"):
            raise TypeError("the probe's classifier must have an `instruments` attribute (list of IRMAS codes)")
        self.editor = editor
        self.classifier = classifier.eval() if classifier is not None else None
        self.trajectory = trajectory
        self.target_prompt = target_prompt
        self.readings: dict[int, dict[str, float]] = {}
        self._x0_hat: dict[int, torch.Tensor] = {}
        self.nfe = 0

    def x0_hat(self, step: int) -> torch.Tensor:
        """The target prompt's x0_hat ``[C, latent_frames]`` on the source's x_step (computed once)."""
        if step not in self._x0_hat:
            nfe0 = self.editor.nfe
            self._x0_hat[step] = self.editor.predict_x0(self.trajectory, [self.target_prompt], step)[0].cpu()
            self.nfe += self.editor.nfe - nfe0
        return self._x0_hat[step]

    def prompt_effect(self, step: int) -> float:
        """RMS of (target prompt's x0_hat - source prompt's x0_hat) at ``step``, on the requested frames."""
        source = self.trajectory.x0_hat[step][:, : self.trajectory.latent_frames].float()
        return float((self.x0_hat(step) - source).pow(2).mean().sqrt())

    @torch.no_grad()
    def __call__(self, step: int) -> dict[str, float]:
        if self.classifier is None:
            raise ValueError("this probe has no classifier: pass the latent classifier to read x0_hat")
        if step not in self.readings:
            x0_hat = self.x0_hat(step).unsqueeze(0)
            param = next(self.classifier.parameters(), None)
            if param is not None:
                x0_hat = x0_hat.to(device=param.device, dtype=param.dtype)
            probs = torch.softmax(self.classifier(x0_hat).float(), dim=-1)[0].cpu().tolist()
            self.readings[step] = dict(zip(self.classifier.instruments, probs))
        return self.readings[step]
