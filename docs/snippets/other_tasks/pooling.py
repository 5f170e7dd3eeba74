"""[CLS] pooling against mean pooling: the few lines that change (docs/other-tasks.md).

``TransformerClassifier`` (``transformer_anatomy.torch``) averages the encoder's outputs over
the non-pad positions. BERT instead prepends a ``[CLS]`` token and classifies its output
alone (Devlin et al. 2018, §3): self-attention lets that one position gather what the
sentence says. ``ClsClassifier`` is the same model with that head; the study
``scripts/other_tasks_study.py`` trains both on the sentiment task.
"""

import torch

from transformer_anatomy.errors import TokenIdError
from transformer_anatomy.torch import TransformerClassifier


# --8<-- [start:cls]
class ClsClassifier(TransformerClassifier):
    """Prepend a ``[CLS]`` id (a new row ``vocab_size`` of the embedding) and classify its output.

    Shape:
        ids: ``(N, S)`` int -> logits ``(N, C)``.
    """

    def __init__(self, vocab_size, num_classes, **kwargs):
        super().__init__(vocab_size + 1, num_classes, **kwargs)  # one more embedding row
        self.cls_id = vocab_size  # the id after the task's vocabulary

    def forward(self, ids):
        if ids.numel() and int(ids.max()) >= self.cls_id:  # the task's ids only, not [CLS] itself
            raise TokenIdError(f"ids: token id {int(ids.max())} is out of range for vocabulary size {self.cls_id}")
        cls = torch.full((ids.shape[0], 1), self.cls_id, dtype=ids.dtype, device=ids.device)
        h, _ = self.encode(torch.cat([cls, ids], dim=1))  # (N, 1 + S) -> (N, 1 + S, E)
        return self.classifier(h[:, 0])  # the [CLS] position's vector -> (N, C)
# --8<-- [end:cls]


POOLINGS = {"mean": TransformerClassifier, "cls": ClsClassifier}
