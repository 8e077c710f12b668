"""Configuration of a MERT-layout stand-in (difftone's own code, written for offline tests).

Like ``m-a-p/MERT-v1-95M``'s remote configuration, it subclasses ``PretrainedConfig``
(not ``HubertConfig``), has ``model_type`` ``mert_model``, carries HuBERT's options plus
MERT's own (``feature_extractor_cqt``, ``deepnorm``, ``attention_relax``, ``sample_rate``)
and does not define ``conv_pos_batch_norm``, which transformers' HuBERT code reads:
a loader has to set it, as it must for the real model.
"""

from transformers import PretrainedConfig

# MERT-v1-95M's published values
DEFAULTS = {
    "vocab_size": 32,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "hidden_act": "gelu",
    "hidden_dropout": 0.1,
    "activation_dropout": 0.0,
    "attention_dropout": 0.1,
    "feat_proj_layer_norm": True,
    "feat_proj_dropout": 0.0,
    "final_dropout": 0.1,
    "layerdrop": 0.05,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-5,
    "feat_extract_norm": "group",
    "feat_extract_activation": "gelu",
    "conv_dim": [512] * 7,
    "conv_stride": [5, 2, 2, 2, 2, 2, 2],
    "conv_kernel": [10, 3, 3, 3, 3, 2, 2],
    "conv_bias": False,
    "num_conv_pos_embeddings": 128,
    "num_conv_pos_embedding_groups": 16,
    "do_stable_layer_norm": False,
    "apply_spec_augment": True,
    "mask_time_prob": 0.05,
    "mask_time_length": 5,
    "mask_time_min_masks": 2,
    "mask_feature_prob": 0.0,
    "mask_feature_length": 10,
    "mask_feature_min_masks": 0,
    "use_weighted_layer_sum": False,
    "classifier_proj_size": 256,
    "feature_extractor_cqt": False,
    "feature_extractor_cqt_bins": 336,
    "deepnorm": False,
    "attention_relax": -1.0,
    "sample_rate": 24000,
}


class MERTConfig(PretrainedConfig):
    """HuBERT's and MERT's options as plain attributes; the conv front end's three lists must agree in length."""

    model_type = "mert_model"

    def __init__(self, pad_token_id=0, bos_token_id=1, eos_token_id=2, **kwargs):
        own = {name: kwargs.pop(name, default) for name, default in DEFAULTS.items()}
        super().__init__(pad_token_id=pad_token_id, bos_token_id=bos_token_id, eos_token_id=eos_token_id, **kwargs)
        for name, value in own.items():
            setattr(self, name, list(value) if isinstance(value, (list, tuple)) else value)
        self.num_feat_extract_layers = len(self.conv_dim)
        if not len(self.conv_dim) == len(self.conv_stride) == len(self.conv_kernel):
            raise ValueError(
                f"conv_dim, conv_stride and conv_kernel must have one entry per conv layer, got "
                f"{len(self.conv_dim)}, {len(self.conv_stride)} and {len(self.conv_kernel)}"
            )
