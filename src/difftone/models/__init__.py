"""Model components: the backbone interface and the one loader of Stable Audio Open (real, tiny, demo).

``load_backbone(spec, dtype, device)`` (= ``load_sao``) returns a
:class:`~difftone.models.backbone.Backbone`; today every spec is Stable Audio Open's
(:class:`~difftone.models.sao.SAOBackbone`). :class:`ModelSettings`: the model keys a stage loads with.
"""

from difftone.models.backbone import Backbone, Conditioning, Prediction, Schedule
from difftone.models.loader import ModelLoadError, ModelSettings, load_backbone, load_sao
from difftone.models.sao import SAOBackbone, SAOConditioning, SAOSchedule, rotary_embedding

__all__ = [
    "Backbone",
    "Conditioning",
    "ModelLoadError",
    "ModelSettings",
    "Prediction",
    "SAOBackbone",
    "SAOConditioning",
    "SAOSchedule",
    "Schedule",
    "load_backbone",
    "load_sao",
    "rotary_embedding",
]
