"""A MERT-layout stand-in model (difftone's own code, written for offline tests).

It reproduces the structure of ``m-a-p/MERT-v1-95M``'s remote ``MERTModel``, which
matters to a loader: a subclass of transformers' ``HubertModel`` that builds its parts
itself (HuBERT's conv front end, its own feature projection, HuBERT's encoder; the
same parameter names as ``HubertModel``) and **overrides** ``forward``: it calls
``self.encoder(...)`` directly and returns the encoder's ``hidden_states``. Under
transformers 5 the HuBERT encoder does not gather per-layer states (a wrapper around
``HubertModel.forward`` does), so ``output_hidden_states=True`` yields ``None`` here,
as it does for the real model. MERT's CQT and deepnorm variants are not reproduced
(MERT-v1-95M uses neither).
"""

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutput
from transformers.models.hubert.modeling_hubert import (
    HubertEncoder,
    HubertEncoderStableLayerNorm,
    HubertFeatureEncoder,
    HubertModel,
)

from .configuration_MERT import MERTConfig


class MERTFeatureProjection(nn.Module):
    """Conv features -> transformer width: optional layer norm, linear projection, dropout."""

    def __init__(self, config):
        super().__init__()
        if config.feature_extractor_cqt or config.deepnorm:
            raise ValueError("this MERT stand-in reproduces neither feature_extractor_cqt nor deepnorm")
        self.feat_proj_layer_norm = config.feat_proj_layer_norm
        if self.feat_proj_layer_norm:
            self.layer_norm = nn.LayerNorm(config.conv_dim[-1], eps=config.layer_norm_eps)
        self.projection = nn.Linear(config.conv_dim[-1], config.hidden_size)
        self.dropout = nn.Dropout(config.feat_proj_dropout)

    def forward(self, features):
        if self.feat_proj_layer_norm:
            features = self.layer_norm(features)
        return self.dropout(self.projection(features))


class MERTModel(HubertModel):
    config_class = MERTConfig
    base_model_prefix = "mert_model"

    def __init__(self, config: MERTConfig):
        # HubertPreTrainedModel's constructor only: the parts are built here, not by HubertModel's
        super(HubertModel, self).__init__(config)
        self.config = config
        self.feature_extractor = HubertFeatureEncoder(config)
        self.feature_projection = MERTFeatureProjection(config)
        if config.mask_time_prob > 0.0 or config.mask_feature_prob > 0.0:
            self.masked_spec_embed = nn.Parameter(torch.empty(config.hidden_size).uniform_())
        self.encoder = (HubertEncoderStableLayerNorm if config.do_stable_layer_norm else HubertEncoder)(config)
        self.post_init()

    def forward(
        self,
        input_values,
        attention_mask=None,
        mask_time_indices=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
    ):
        output_attentions = self.config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        return_dict = self.config.return_dict if return_dict is None else return_dict

        features = self.feature_extractor(input_values).transpose(1, 2)
        if attention_mask is not None:
            attention_mask = self._get_feature_vector_attention_mask(features.shape[1], attention_mask)
        hidden_states = self.feature_projection(features)
        hidden_states = self._mask_hidden_states(hidden_states, mask_time_indices=mask_time_indices)

        # the encoder called directly, as MERT's forward does (not through HubertModel.forward)
        encoded = self.encoder(
            hidden_states,
            attention_mask=attention_mask,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=return_dict,
        )
        if not return_dict:
            return (encoded[0],) + tuple(encoded[1:])
        return BaseModelOutput(
            last_hidden_state=encoded[0], hidden_states=encoded.hidden_states, attentions=encoded.attentions
        )
